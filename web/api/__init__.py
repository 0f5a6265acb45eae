"""The shop's REST API will live here: POS, e-commerce and CRM systems crediting purchases,
redeeming points and coupons, idempotent on `Idempotency-Key`, refusals as problem+json."""
