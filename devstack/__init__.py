"""Development and test stack: embedded PostgreSQL and Redis from pip packages, no root needed.

`python -m devstack run` starts the whole stack (services, migrations, demo data, Procfile processes);
`python -m devstack test` starts private services and runs the checks and the test suite.
`DATABASE_URL` / `REDIS_URL`, when set, are used instead of the embedded servers.
"""
