"""The Decision-Maker: calibrated alphas, fusion, a convex allocator and decision tickets.

Import the submodules directly (`lotus_core.dm.triggers`, `lotus_core.dm.allocator`, ...):
this package file stays empty so that the Trader can use the trigger DSL without loading
cvxpy.
"""
