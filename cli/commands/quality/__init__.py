"""The CLI's one home of traffic quality settings:

- touch.py: `clicktrail quality ...`, the click-time checks (links service): their
  settings, the account's block and allow lists, the flagged sub-ids;
- attribution.py: `clicktrail settings quality ...` and `settings revenue-range ...`,
  the install and conversion checks (attribution service);
- shared.py: what both use (--campaign, how settings and their effective values print).
"""

from __future__ import annotations

from cli.commands.quality.attribution import install_checks, revenue_ranges
from cli.commands.quality.touch import app

__all__ = ["app", "install_checks", "revenue_ranges"]
