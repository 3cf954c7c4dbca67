"""The one vocabulary of Clicktrail, defined once and, where a proto enum exists,
derived from it. Small modules, one concern each:

- libs.vocab.enums     enum <-> short name helpers (short_name, names, choices,
                       name_map, code_map, parse_enum, str_enum, enum_prefix)
- libs.vocab.kinds     verdicts, conversion / delivery statuses, event types,
                       platforms, device types, tariff models (number <-> name maps)
- libs.vocab.subids    sub-id fields, aliases, click-query names
- libs.vocab.metrics   metric names (reports, rules, percent / money)
- libs.vocab.windows   window limits (attribution windows, touch look-ups, rules)
- libs.vocab.timetext  duration and date parsing / formatting ("7d", "1d12h", "2026-01-31")

Import from the module (``from libs.vocab.subids import SUB_IDS``): importing
``libs.vocab`` itself loads nothing but this docstring, so the click path pays
only for what it uses.
"""
