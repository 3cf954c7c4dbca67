"""Automation rules: what a rule is (domain, validation: pure), where a run's
metrics come from (evaluation: the campaign report), its tables and run lock
(store), running one (runner: evaluate, act through the links service,
log it all) and the schedule (scheduler). The servicer is rule_service.py.

One run of a rule at a time, across replicas (a session advisory lock held for
the run's length, no transaction open while the links service is called); its
log rows are written beside it as it goes, so a crash leaves a RUNNING run
behind, never a silent action. Scheduled runs are claimed per slot by
``RuleScheduler``."""

from services.analytics.rules.domain import Action, Condition, Evaluation, Group, Rule, row_metrics, rule_to_pb
from services.analytics.rules.evaluation import MetricsSource, report_groups
from services.analytics.rules.links_actions import LinksActions
from services.analytics.rules.runner import RuleRunner
from services.analytics.rules.scheduler import RuleScheduler
from services.analytics.rules.validation import check_consistency, validate_fields

__all__ = [
    "Action", "Condition", "Evaluation", "Group", "LinksActions", "MetricsSource", "Rule", "RuleRunner",
    "RuleScheduler", "check_consistency", "report_groups", "row_metrics", "rule_to_pb", "validate_fields",
]  # fmt: skip
