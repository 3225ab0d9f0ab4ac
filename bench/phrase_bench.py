"""Phrase matching figures: search-term lookups and weighted page scoring.

    .venv/bin/python bench/phrase_bench.py [--queries N] [--seed S]

Prints, in one run:
- a 5,000-phrase search list: compile time, then microseconds per `PhraseList.find` over 100,000
  generated queries (mean, p50, p99), 10 % of which contain a listed phrase in some disguise;
- 100,000 `extract_search` calls over a mix of search and ordinary URLs (mean µs);
- a 2,000-phrase weighted list: microseconds per 8 KB page over 500 pages (the gateway's case),
  then milliseconds to score a 200 KB and a 2 MB HTML page (best of 3 and mean), and how that
  splits between `page_text`, `fold` and the automaton pass.

Everything is generated from made-up words; nothing is read from disk or the network.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filters.phrases import Phrase, PhraseList
from filters.search import extract_search
from filters.textfold import fold
from filters.weighted import WeightedPhrase, WeightedPhrases, page_text


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 10)))


def _vocabulary(rng: random.Random, size: int) -> list[str]:
    latin = [_word(rng) for _ in range(size)]
    # some Cyrillic and Arabic words so the non-ASCII path is part of the figures
    cyrillic = ["".join(rng.choice("абвгдежзиклмнопрстуфхцчшщыэюя") for _ in range(6))
                for _ in range(size // 20)]
    arabic = ["".join(rng.choice("ابتثجحخدذرزسشصضطظعغفقكلمنهوي") for _ in range(5))
              for _ in range(size // 20)]
    return latin + cyrillic + arabic


def _disguise(rng: random.Random, text: str) -> str:
    how = rng.randrange(5)
    if how == 0:
        return text.upper()
    if how == 1:
        return text.replace("o", "0").replace("a", "4").replace("e", "3")
    if how == 2:
        return " ".join(".".join(word) for word in text.split())
    if how == 3:
        return " ".join(reversed(text.split()))
    return text


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def bench_search_list(rng: random.Random, vocabulary: list[str], queries: int) -> None:
    # listed words and everyday query words kept apart, so about 10 % of queries match
    listed_words, vocabulary = vocabulary[::4], [w for i, w in enumerate(vocabulary) if i % 4]
    phrases = [
        Phrase(" ".join(rng.sample(listed_words, rng.choice((1, 1, 2, 2, 3)))), "extremism", 3,
               f"search:bench:{n}", f"bench.txt:{n}")
        for n in range(5000)
    ]
    started = time.perf_counter()
    listed = PhraseList(phrases)
    compile_ms = (time.perf_counter() - started) * 1000

    texts: list[str] = []
    for _ in range(queries):
        words = rng.sample(vocabulary, rng.randint(1, 6))
        if rng.random() < 0.10:
            words.insert(rng.randrange(len(words) + 1), _disguise(rng, rng.choice(phrases).text))
        texts.append(" ".join(words))

    timings: list[float] = []
    hits = 0
    clock = time.perf_counter_ns
    for text in texts:
        started_ns = clock()
        found = listed.find(text)
        timings.append((clock() - started_ns) / 1000)
        hits += bool(found)
    print(f"search list: {len(listed)} phrases, compiled in {compile_ms:.0f} ms")
    print(
        f"  find over {queries} queries: mean {statistics.fmean(timings):.1f} µs, "
        f"p50 {_percentile(timings, 0.5):.1f} µs, p99 {_percentile(timings, 0.99):.1f} µs "
        f"({hits / queries:.1%} of queries matched)"
    )


def bench_extract(rng: random.Random, vocabulary: list[str], count: int) -> None:
    hosts = [
        ("www.google.co.uk", "/search", "q={}&source=hp&ei=abc"),
        ("www.bing.com", "/search", "q={}&form=QBLH"),
        ("www.youtube.com", "/results", "search_query={}"),
        ("en.wikipedia.org", "/w/index.php", "search={}&title=Special:Search"),
        ("www.example.test", "/articles/item", "id=12&ref={}"),
        ("cdn.static.example", "/assets/app.js", ""),
        ("www.bbc.co.uk", "/news/uk-12345", ""),
    ]
    requests = []
    for _ in range(count):
        host, path, query = rng.choice(hosts)
        terms = "+".join(rng.sample(vocabulary, rng.randint(1, 4)))
        requests.append((host, path, query.format(terms)))
    started = time.perf_counter()
    for host, path, query in requests:
        extract_search(host, path, query)
    elapsed = time.perf_counter() - started
    print(f"  extract_search over {count} requests: mean {elapsed / count * 1e6:.2f} µs")


def _page(rng: random.Random, vocabulary: list[str], phrases: list[WeightedPhrase],
          size: int) -> str:
    parts = ["<!DOCTYPE html><html><head><title>A page</title>",
             "<meta name='description' content='generated page'>",
             "<style>body{font-family:sans-serif}.x{color:red}</style>",
             "<script>var data = {a: 1, b: [1,2,3]}; function f(){return 2;}</script>",
             "</head><body>"]
    length = sum(map(len, parts))
    while length < size:
        words = rng.choices(vocabulary, k=rng.randint(20, 60))
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), rng.choice(phrases).words[0])
        paragraph = (
            f"<div class='para'><p>{' '.join(words[:10])} <a href='/x/{rng.randrange(999)}'>"
            f"{words[10] if len(words) > 10 else 'more'}</a> <b>{' '.join(words[11:])}</b>"
            f" &amp; caf&eacute; 2024.</p><img src='i.png' alt='{words[0]}'></div>\n"
        )
        parts.append(paragraph)
        length += len(paragraph)
    parts.append("</body></html>")
    return "".join(parts)[:size]


def bench_weighted(rng: random.Random, vocabulary: list[str]) -> None:
    phrases = [
        WeightedPhrase(
            tuple(" ".join(rng.sample(vocabulary, rng.choice((1, 1, 2, 3))))
                  for _ in range(2 if n % 10 == 0 else 1)),
            rng.choice((5, 10, 20, 40, -10, -20)),
            rng.choice(("extremism", "education")),
            f"page:bench:{n}",
            f"weighted.txt:{n}",
        )
        for n in range(2000)
    ]
    started = time.perf_counter()
    weighted = WeightedPhrases(phrases)
    print(f"weighted list: {len(weighted)} phrases, compiled in "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")
    bench_small_pages(rng, vocabulary, phrases, weighted)
    for size in (200_000, 2_000_000):
        page = _page(rng, vocabulary, phrases, size)
        body = page.encode()
        runs = []
        result = None
        for _ in range(3):
            started = time.perf_counter()
            result = weighted.score(body, "text/html; charset=utf-8")
            runs.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        text = page_text(body, "text/html; charset=utf-8")
        text_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        fold(text)
        fold_ms = (time.perf_counter() - started) * 1000
        assert result is not None
        print(
            f"  {size // 1000} KB page: best {min(runs):.0f} ms,"
            f" mean {statistics.fmean(runs):.0f} ms"
            f" (page_text {text_ms:.0f} ms, fold {fold_ms:.0f} ms); score {result.score},"
            f" {len(result.hits)} phrases hit"
        )


def bench_small_pages(
    rng: random.Random,
    vocabulary: list[str],
    phrases: list[WeightedPhrase],
    weighted: WeightedPhrases,
) -> None:
    """The gateway's case: many ~8 KB pages over a shared vocabulary (a warm fold cache)."""
    pages = [_page(rng, vocabulary, phrases, 8192).encode() for _ in range(600)]
    for body in pages[:100]:  # warm-up: the gateway has seen the site's words before
        weighted.score(body, "text/html; charset=utf-8")
    timings: list[float] = []
    clock = time.perf_counter_ns
    for body in pages[100:]:
        started_ns = clock()
        weighted.score(body, "text/html; charset=utf-8")
        timings.append((clock() - started_ns) / 1000)
    print(
        f"  8 KB page ({len(timings)} pages): mean {statistics.fmean(timings):.0f} µs, "
        f"p50 {_percentile(timings, 0.5):.0f} µs, p99 {_percentile(timings, 0.99):.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocabulary = _vocabulary(rng, 20_000)
    bench_search_list(rng, vocabulary, args.queries)
    bench_extract(rng, vocabulary, args.queries)
    bench_weighted(rng, vocabulary)


if __name__ == "__main__":
    main()
