"""Per-account quota of postback templates (postback_templates_per_account).

Call inside the transaction that inserts the templates: the account's
advisory lock serialises concurrent creations, so two at once cannot both
pass the count at limit - 1.
"""

from __future__ import annotations

import asyncpg

from libs.errors import ResourceExhausted


async def check_template_quota(conn: asyncpg.Connection, account_id: str, adding: int, limit: int) -> None:
    """ResourceExhausted when ``adding`` more templates would pass ``limit`` (0: no limit)."""
    if limit <= 0:
        return
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('postbacks.templates'), hashtext($1))", account_id)
    have = int(await conn.fetchval("SELECT count(*) FROM postbacks.templates WHERE account_id = $1", account_id))
    if have + adding > limit:
        raise ResourceExhausted(
            f"the account has {have} postback templates and may have at most {limit}"
            f" (CLICKTRAIL_POSTBACK_TEMPLATES_PER_ACCOUNT): delete unused templates first"
        )
