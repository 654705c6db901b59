"""The REST API of the curation app (projects, members, jobs, audit)."""
