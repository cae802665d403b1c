"""Labels of the contract's codes, shown on more than one page (translated where shown)."""

from services.console.i18n import N_

PROGRAMME_TYPES: dict[str, str] = {
    "support_group": N_("Support group"),
    "parent_child_group": N_("Parent-child group"),
    "psychoeducation_talk": N_("Psychoeducation talk"),
    "outing": N_("Outing"),
    "family_gathering": N_("Family gathering"),
    "forum": N_("Forum"),
    "training_programme": N_("Training programme"),
    "house_meeting": N_("House meeting"),
    "work_unit": N_("Work unit"),
    "interest_class": N_("Interest class"),
    "seminar": N_("Seminar"),
    "conference": N_("Conference"),
    "community_event": N_("Community event"),
}
