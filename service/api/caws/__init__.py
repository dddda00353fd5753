"""The CAWS endpoints (CONTRACTS.md section 1 "CAWS"): wire models, dependencies, routers."""
