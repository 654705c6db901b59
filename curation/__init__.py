"""Curation: projects, roles, jobs, audit; studies, ingest, de-identification, datasets, export."""
