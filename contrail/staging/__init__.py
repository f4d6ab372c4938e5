"""Staging data: a production dump loaded by a confined loader, masked on its way in and in the scratch
database, proven free of the originals, swapped in atomically (`engines`); what a dump may do (`dumpsql`),
masking in transit (`transit`), fakes (`anonymise`), personal-data detection (`pii`, `leaks`)."""

from contrail.staging.engines import (
    ENGINES,
    Engine,
    MariaDB,
    PostgreSQL,
    dump_error,
    my_grant_pattern,
    my_ident,
    my_literal,
    open_dump,
    pg_ident,
    pg_literal,
    pull,
    refresh,
)

__all__ = [
    "ENGINES",
    "Engine",
    "MariaDB",
    "PostgreSQL",
    "dump_error",
    "my_grant_pattern",
    "my_ident",
    "my_literal",
    "open_dump",
    "pg_ident",
    "pg_literal",
    "pull",
    "refresh",
]
