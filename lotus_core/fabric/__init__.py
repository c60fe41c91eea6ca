"""The module fabric: per-module strands, inboxes, outboxes and priors, signed envelopes,
the ledger, manifests and PostgreSQL row-level security (docs/fabric.md).

The API, one small module per job (every function takes an open `OpsDb`, or a `Tx` to
join the caller's transaction, unless it says `tx`):

    envelope    build_envelope, validate_envelope, canonical_json, envelope_hash, EnvelopeError
    signing     load_or_create_private_key, load_public_keys, sign, verify
    outbox      post_to_outbox, post_many_to_outbox, read_outbox, mark_routed,
                mark_routed_many, mark_dead, retry_outbox_later
    inbox       deliver_to_inbox, deliver_many_to_inbox, read_inbox, mark_consumed,
                mark_failed, retry_inbox_later
    strands     write_strand, update_strand, read_strand
    dead_letter record_dead_letter, read_dead_letters, count_dead_letters (+ reason codes)
    heartbeats  beat, read_heartbeats
    (priors     current_priors, set_prior, priors_version: lotus_core.learning.priors_store,
                the one owner of the priors tables)
    manifests   load_modules (manifests + models.map.yaml, cross-checked)
    security    apply_security, security_statements (PostgreSQL)
    connect     open_opsdb(url, migrate=False) for module and router roles
    examples    example_payload, example_envelope (valid, varied; for tests and benchmarks)

Nothing here imports dagster: the daemon, the router and the sensors share it.
"""

from lotus_core.fabric.dead_letter import count_dead_letters, read_dead_letters, record_dead_letter
from lotus_core.fabric.envelope import (
    EnvelopeError,
    build_envelope,
    canonical_json,
    envelope_hash,
    validate_envelope,
)
from lotus_core.fabric.heartbeats import beat, read_heartbeats
from lotus_core.fabric.inbox import deliver_to_inbox, mark_consumed, mark_failed, read_inbox
from lotus_core.fabric.manifests import ManifestError, load_modules
from lotus_core.fabric.outbox import mark_dead, mark_routed, post_to_outbox, read_outbox
from lotus_core.fabric.queue import BoxRow
from lotus_core.fabric.signing import load_or_create_private_key, load_public_keys, sign, verify
from lotus_core.fabric.strands import read_strand, update_strand, write_strand

__all__ = [
    "BoxRow",
    "EnvelopeError",
    "ManifestError",
    "beat",
    "build_envelope",
    "canonical_json",
    "count_dead_letters",
    "deliver_to_inbox",
    "envelope_hash",
    "load_modules",
    "load_or_create_private_key",
    "load_public_keys",
    "mark_consumed",
    "mark_dead",
    "mark_failed",
    "mark_routed",
    "post_to_outbox",
    "read_dead_letters",
    "read_heartbeats",
    "read_inbox",
    "read_outbox",
    "read_strand",
    "record_dead_letter",
    "sign",
    "update_strand",
    "validate_envelope",
    "verify",
    "write_strand",
]
