"""A seeded mix of good and bad envelopes for the router's fault test and benchmark.

    plan = fault_plan(10_000, seed=7, keys=keyring, now=utc_now())
    for module, envs in plan.batches():          # post in plan order (shuffled)
        post_many_to_outbox(fabric, module, envs, validate=False, models_map=load_modules().map)

Every faulty envelope has exactly ONE fault, so the router's reason for it is known in
advance (`plan.expected_dead`). Kinds: valid; a re-post of the same envelope (no new row);
a sender's retry under a new event_id with the same dedupe_key (one of the two must reach
each target); expired; invalid payload (re-hashed and signed); bad signature (a flipped
signature character, or another module's key); bad hash (content changed after
signing); forbidden route; invalid envelope (a schema_ref of another intent). Timestamps
are spread over the last minute so seq order is not time order (reordering).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.contracts import contracts
from lotus_core.fabric.envelope import build_envelope, envelope_hash
from lotus_core.fabric.examples import example_payload
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import sign
from lotus_core.fabric.ulid import UlidFactory

KINDS: dict[str, float] = {
    "valid": 0.60,
    "repost": 0.06,
    "dedupe_retry": 0.08,
    dl.EXPIRED: 0.06,
    dl.INVALID_PAYLOAD: 0.06,
    dl.BAD_SIGNATURE: 0.06,
    dl.BAD_HASH: 0.03,
    dl.FORBIDDEN_ROUTE: 0.03,
    dl.INVALID_ENVELOPE: 0.02,
}


@dataclass
class FaultPlan:
    """What to post, in order, and what the router must make of it."""

    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (outbox, env)
    deliver: dict[str, tuple[str, ...]] = field(default_factory=dict)  # event_id -> targets
    dedupe_pairs: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> 2 events
    expected_dead: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (box, why)
    kinds: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        """Distinct outbox rows the posts make (a re-post adds none)."""
        return len({env["event_id"] for _, env in self.posts})

    def expected_inbox_rows(self) -> int:
        paired = self._paired()  # once: asked per envelope it was quadratic (~2 s a call)
        singles = sum(len(t) for e, t in self.deliver.items() if e not in paired)
        pairs = sum(len(self.deliver[a]) for a, _ in self.dedupe_pairs.values())
        return singles + pairs

    def _paired(self) -> set[str]:
        return {e for pair in self.dedupe_pairs.values() for e in pair}

    def batches(self, size: int = 2000) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Posts grouped per outbox, in plan order within each (chunks of at most `size`)."""
        per: dict[str, list[dict[str, Any]]] = {}
        for module, env in self.posts:
            per.setdefault(module, []).append(env)
        for module in MODULES:
            envs = per.get(module, [])
            for i in range(0, len(envs), size):
                yield module, envs[i : i + size]


def _routes() -> list[tuple[str, str, tuple[str, ...]]]:
    m = load_modules().map
    out = []
    for sender in MODULES:
        intents = {i for ts in m.may_tag.get(sender, {}).values() for i in ts}
        for intent in sorted(intents):
            out.append((sender, intent, m.targets(sender, intent)))
    return out


def _break_payload(intent: str, payload: dict[str, Any]) -> dict[str, Any]:
    p = dict(payload)
    if intent == "ALPHA_PROPOSED":
        p["sigbus"] = {**p["sigbus"], "signal": 1.5}  # outside [-1, 1]
    else:
        p["unexpected_key"] = 1  # every payload schema has additionalProperties: false
    return p


def fault_plan(n: int, *, seed: int, keys: Keyring, now: datetime) -> FaultPlan:
    """`n` posts (reposts included) of a seeded mix of KINDS, shuffled."""
    rng = random.Random(seed)
    ids = UlidFactory(lambda: now.timestamp() - rng.uniform(0, 60), rng.randbytes)
    routes = _routes()
    priv = {m: keys.private_key(m) for m in MODULES}
    all_refs = {i: contracts().current(i) for i in contracts().by_intent}
    kinds, weights = list(KINDS), list(KINDS.values())
    plan = FaultPlan()
    posts: list[tuple[str, dict[str, Any]]] = []
    i = 0
    while len(posts) < n:
        i += 1
        kind = rng.choices(kinds, weights)[0]
        sender, intent, targets = rng.choice(routes)
        ts = now - timedelta(seconds=rng.uniform(0, 60))
        dedupe = f"d{seed}-{i}" if rng.random() < 0.3 or kind == "dedupe_retry" else None
        kw: dict[str, Any] = {"sender": sender, "to": list(targets), "intent": intent,
                              "payload": example_payload(intent, i), "now": ts,
                              "new_id": ids, "ttl_sec": 3600, "dedupe_key": dedupe}
        if kind == dl.EXPIRED:
            kw.update(now=now - timedelta(hours=2), ttl_sec=60)
        elif kind == dl.INVALID_PAYLOAD:
            kw["payload"] = _break_payload(intent, kw["payload"])
        elif kind == dl.FORBIDDEN_ROUTE:
            banned = [t for t in MODULES if t not in targets]
            kw["to"] = [*targets, rng.choice(banned)]
        elif kind == dl.INVALID_ENVELOPE:
            kw["schema_ref"] = next(r for k, r in all_refs.items() if k != intent)
        env = sign(build_envelope(**kw), priv[sender])
        if kind == dl.BAD_SIGNATURE:
            if rng.random() < 0.5:
                body = env["sig"]
                pos = len("ed25519:") + rng.randrange(80)  # not the padding bits at the end
                swap = "A" if body[pos] != "A" else "B"
                env["sig"] = body[:pos] + swap + body[pos + 1 :]
            else:
                env = sign(env, priv[rng.choice([m for m in MODULES if m != sender])])
        elif kind == dl.BAD_HASH:
            env["lifecycle_id"] = env["lifecycle_id"] + "x"  # still schema-valid
        posts.append((sender, env))
        plan.kinds[kind] += 1
        if kind in ("valid", "repost", "dedupe_retry"):
            plan.deliver[env["event_id"]] = tuple(targets)
        else:
            plan.expected_dead[env["event_id"]] = (sender, kind)
        if kind == "repost" and len(posts) < n:
            posts.append((sender, dict(env)))
        elif kind == "dedupe_retry" and len(posts) < n:
            retry = sign(build_envelope(**{**kw, "now": ts + timedelta(seconds=1)}), priv[sender])
            posts.append((sender, retry))
            plan.deliver[retry["event_id"]] = tuple(targets)
            plan.dedupe_pairs[dedupe] = (env["event_id"], retry["event_id"])  # type: ignore[index]
        assert kind != dl.BAD_HASH or env["hash"] != envelope_hash(env)
    rng.shuffle(posts)
    plan.posts = posts
    return plan
