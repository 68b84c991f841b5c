"""The signed API: API keys, their whitelists, request signatures, nonces."""
