"""Lotus's domain code: pure and typed, never importing Dagster (DESIGN.md, "Packages").

Arrow's memory pool is chosen here, before any Lotus module loads pyarrow.
Arrow's C++ code (Parquet decoding, compute kernels, `to_pandas`) allocates from the pool
named by `ARROW_DEFAULT_MEMORY_POOL`, read once when pyarrow loads; `pa.set_memory_pool`
(`lotus_core.store.lake.use_system_allocator`) moves only the allocations pyarrow's Python
API makes. With the bundled mimalloc those C++ buffers stayed in a 1 GiB reservation after
they were freed: 31 MB resident after a 250,000-window learning window's read was dropped,
and the read's peak 35 MB higher than with the C library's malloc, whose free pages
`lotus_core.malloc.release_free_heap` hands back. A value set by the caller is kept. Every
Lotus package imports this first (its `__init__`), so a process that loads Lotus before
pyarrow gets it; values never change with the pool, only memory.
"""

import os

os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
