"""Regenerate the store's initial Alembic migration from the table modules (development only).

Until modelatlas has a release, the schema is one initial revision, regenerated whenever a
``store/*_tables.py`` module changes. After the first release, add new revisions instead:
``alembic -c <cfg> revision --autogenerate``.

Usage: .venv/bin/python scripts/regen_migration.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from modelatlas.store.base import MIGRATIONS_DIR, alembic_config, import_table_modules


def main() -> None:
    versions = MIGRATIONS_DIR / "versions"
    for old in versions.glob("0001_*.py"):
        old.unlink()
    import_table_modules()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite:///{Path(tmp) / 'gen.db'}")
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
    ruff = Path(sys.executable).with_name("ruff")
    subprocess.run([str(ruff), "format", str(versions)], check=True)
    subprocess.run([str(ruff), "check", "--fix", "-q", str(versions)], check=False)


if __name__ == "__main__":
    main()
