"""The gateway's own tables in PostgreSQL (schema ``gateway``): credentials and grants, cross-learning,
shared emotions and task assignments. Every SQL statement of the gateway is in this package."""
