"""Known pages with known findings, served by the loopback scan site (`scan_site.py`) and read directly
by unit tests."""

GOOD_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=()",
}

GOOD = """<!doctype html>
<html lang="en"><head>
<title>Relay garden tools and supplies</title>
<meta name="description" content="Garden tools for every season: spades, rakes and shears, tested by gardeners.">
<link rel="canonical" href="/good">
<meta property="og:title" content="Garden tools"><meta property="og:type" content="website">
<meta property="og:image" content="/img/cover.png"><meta property="og:url" content="/good">
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Organization",
 "name": "Relay Garden", "url": "https://garden.example"}</script>
</head><body>
<h1>Garden tools</h1><h2>Spades</h2><p>Our spades dig deep.</p>
<img src="/img/spade.png" alt="A spade"><img src="/img/line.png" alt="">
<form><label for="email">Email</label><input id="email" type="email">
<label>Name <input name="name"></label><input type="submit" value="Go"></form>
<a href="/ok-target">More tools</a> <a href="/good#top">Top</a>
</body></html>"""

BAD = """<html><head><meta name="robots" content="noindex, nofollow"></head><body>
<h1>Welcome</h1><h3>Skipped a level</h3>
<img src="/a.png"><img src="/b.png" alt="B"><img src="/c.png">
<form><input id="q" type="text"><select name="s"><option>1</option></select><input type="hidden" name="t"></form>
<p style="color: #999999">Hard to read</p><p style="color:#000;background-color:#fff">Easy</p>
<div style="background:#000000"><span style="color:#333">Dark on dark</span></div>
<a href="/ok-target">ok</a> <a href="/missing">missing</a> <a href="/server-error">down</a>
<a href="http://127.0.0.1:9/nowhere">refused</a> <a href="mailto:a@example.com">mail</a>
<a href="/ok-target" rel="nofollow">ok again</a>
</body></html>"""

SCHEMA = """<html lang="en"><head>
<script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
  {"@type": "Article", "headline": "Spring", "author": {"@type": "Person", "name": "Ann"},
   "datePublished": "2024-03-01"},
  {"@type": "WebSite", "name": "Garden"}]}</script>
<script type="application/ld+json">{"@type": "Product", "name": broken}</script>
</head><body>
<div itemscope itemtype="https://schema.org/Product"><span itemprop="name">Spade</span>
  <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
    <meta itemprop="price" content="19.99"><span itemprop="name">Not the product's name</span></div></div>
<div itemscope itemtype="https://schema.org/Event"><span itemprop="name">Open day</span></div>
<div vocab="https://schema.org/" typeof="Person"><span property="name">Bob</span>
  <a property="url" href="https://bob.example">site</a></div>
</body></html>"""
