"""Benchmarks of lifeboat.n8n against the raw tools and n8n's own export (issue 9; not shipped)."""
