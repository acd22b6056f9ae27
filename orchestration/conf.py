from django.conf import settings


def engine_setting(name: str) -> float:
    return float(settings.RELAY_ENGINE[name])
