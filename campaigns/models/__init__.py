from .campaign import Campaign, CampaignMode, CampaignPhase, CampaignStatus, PhaseConfig, PhaseStatus
from .personas import DnsPersona, HttpPersona, Proxy
from .results import CampaignReport, DnsResult, DomainScore, GeneratedDomain, HttpResult
from .settings import CampaignSettings

__all__ = [
    "Campaign",
    "CampaignMode",
    "CampaignPhase",
    "CampaignReport",
    "CampaignSettings",
    "CampaignStatus",
    "DnsPersona",
    "DnsResult",
    "DomainScore",
    "GeneratedDomain",
    "HttpPersona",
    "HttpResult",
    "PhaseConfig",
    "PhaseStatus",
    "Proxy",
]
