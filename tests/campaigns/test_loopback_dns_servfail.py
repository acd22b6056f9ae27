"""The loopback DNS server's `--servfail` mode: a broken resolver the egress policy may allow, which
makes DNS validation fail (`resolvers_unreachable`) until the persona is pointed elsewhere."""

from campaigns.loopback.process import start_dns_server
from campaigns.phases import dns_validation


def test_a_servfail_server_leaves_every_lookup_unanswered_and_the_batch_unusable(dns_server):
    broken = start_dns_server(args=["--servfail"])
    try:
        names = ["aaashop.test", "abcshop.test", "dual-x.test"]
        failing = dns_validation.resolve_batch(
            names, [dns_validation.ResolverSettings(nameservers=(f"127.0.0.1:{broken.port}",), retries=0)]
        )
    finally:
        broken.stop()
    assert [(lookup.status, lookup.error) for lookup in failing] == [("error", "dns_error_3")] * 3  # ARES_ESERVFAIL
    assert dns_validation.resolvers_unusable(failing)

    working = dns_validation.resolve_batch(
        names, [dns_validation.ResolverSettings(nameservers=(f"127.0.0.1:{dns_server.port}",))]
    )
    assert not dns_validation.resolvers_unusable(working)
