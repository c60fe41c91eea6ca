"""The Curator API's pure core (docs/curator_api.md).

People act on the council through a signed HTTP API (`lotus_api/`); everything the service
decides lives here, so it is typed, tested without a server, and never imports a web
framework or Dagster:

    rules.py     actions, targets and which council role may do what (nudges within kappa)
    keys.py      enrolled curators: ids, roles, ed25519 public keys (curators.pub.yaml)
    auth.py      the signed request: canonical bytes, signing (clients), verification,
                 timestamp window and nonce cache (replays refused)
    store.py     SQL on curator_candidates, curator_queue (alarms) and curator_actions
                 (append-only), each call under the curator role's database role
    security.py  PostgreSQL roles lotus_curator_<role> and their row-level security
    standing.py  the log folded into standing vetoes and nudges per detector
    kpis.py      the lake's curator_kpis for a day, and the log's own counts
"""
