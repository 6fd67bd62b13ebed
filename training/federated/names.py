"""The names the demo, the server and the sites share: the SuperNode's node-config keys and the files
the server writes. Kept apart from `client_app` and `server_app` because those import flwr (the
federated extra) and the demo, imported by the main environment's tests, reads these names."""

from __future__ import annotations

# Node config (set per SuperNode with --node-config): where this hospital's data is.
NODE_SITE = "site"
NODE_DATA_PATH = "data-path"
NODE_DATA_FORMAT = "data-format"
NODE_CACHE_DIR = "cache-dir"  # site-local cache of the prepared examples (stays at the site)

# What the server writes to its out-dir; SERVER_LOG last (its presence tells the demo the run is complete).
FINAL_WEIGHTS = "final_weights.npz"
INITIAL_WEIGHTS = "initial_weights.npz"
SERVER_LOG = "server_log.json"
