"""Phrase matching figures: search-term lookups and weighted page scoring.

    .venv/bin/python bench/phrase_bench.py [--queries N] [--seed S]
    .venv/bin/python bench/phrase_bench.py --vs ../other-checkout [--rounds 7]

Prints, in one run:
- a 5,000-phrase search list: compile time, then microseconds per `PhraseList.find` over 100,000
  generated queries (mean, p50, p99, and CPU: the loop's own thread time per call, which leaves
  out time spent waiting for a busy core), 10 % of which contain a listed phrase in some disguise;
- 100,000 `extract_search` calls over a mix of search and ordinary URLs (mean µs);
- the shipped lists: the proscribed-organisations search terms over 100,000 searches drawn from
  the clean school-search corpus (tests/data/corpus), 10 % with an organisation's name in some
  disguise; and the shipped page phrases over the 7 KB page `bench/gateway_bench.py` serves (the
  gateway's own case, the "~185 µs per 8 KB page" of docs/benchmarks.md), as it is and with 30
  words new to the fold cache in each copy (real pages carry names, dates and ids);
- a 2,000-phrase weighted list: microseconds per 8 KB page over 500 pages of random words,
  then milliseconds to score a 200 KB and a 2 MB HTML page (best of 3 and mean), and how that
  splits between `page_text`, `fold` and the automaton pass.

`--vs PATH` runs the same workload against the `filters/` of another checkout (say, the commit
before a change, from `git worktree add --detach`), each tree in its own subprocess with its
own `filters/` first on sys.path, interleaved round by round (this tree first in odd rounds,
the other first in even ones) so a noisy machine weighs on both alike. It prints the median of
each figure for both trees and the ratio this / other. The workload, the data files and this
script are always this checkout's; only the code under test changes.

Everything but the shipped lists and the corpus is generated from made-up words; nothing is read
from the network.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import string
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "corpus" / "school-searches.txt"
PROSCRIBED = ROOT / "blocklists" / "proscribed-organisations.yaml"
PAGE_PHRASES = ROOT / "blocklists" / "local" / "page-phrases.weighted"
HTML = "text/html; charset=utf-8"

F = SimpleNamespace()  # the filters under test, from `use_tree`
Figures = dict[str, float]


def use_tree(tree: Path) -> str:
    """Import the phrase matcher from `tree` (its `filters/` first on sys.path)."""
    sys.path.insert(0, str(tree))
    import filters
    from filters.lists import parse_weighted
    from filters.phrases import Phrase, PhraseList
    from filters.search import extract_search
    from filters.textfold import fold
    from filters.weighted import WeightedPhrase, WeightedPhrases, page_text

    F.__dict__.update(
        Phrase=Phrase, PhraseList=PhraseList, extract_search=extract_search, fold=fold,
        WeightedPhrase=WeightedPhrase, WeightedPhrases=WeightedPhrases, page_text=page_text,
        parse_weighted=parse_weighted,
    )
    return str(Path(filters.__file__).resolve().parent.parent)


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


def _time_finds(listed: Any, texts: list[str]) -> tuple[list[float], float, int]:
    """Wall-clock µs per call, the loop's CPU µs per call (this thread only, so time spent
    waiting for a busy core is left out), and how many calls found something."""
    timings: list[float] = []
    hits = 0
    clock = time.perf_counter_ns
    cpu = time.thread_time_ns()
    for text in texts:
        started_ns = clock()
        found = listed.find(text)
        timings.append((clock() - started_ns) / 1000)
        hits += bool(found)
    return timings, (time.thread_time_ns() - cpu) / 1000 / len(texts), hits


def _spread(name: str, timings: list[float], cpu: float) -> Figures:
    return {f"{name} mean µs": statistics.fmean(timings),
            f"{name} p50 µs": _percentile(timings, 0.5),
            f"{name} p99 µs": _percentile(timings, 0.99),
            f"{name} CPU µs": cpu}


def bench_search_list(
    rng: random.Random, vocabulary: list[str], queries: int, out: TextIO
) -> Figures:
    # listed words and everyday query words kept apart, so about 10 % of queries match
    listed_words, vocabulary = vocabulary[::4], [w for i, w in enumerate(vocabulary) if i % 4]
    phrases = [
        F.Phrase(" ".join(rng.sample(listed_words, rng.choice((1, 1, 2, 2, 3)))), "extremism", 3,
                 f"search:bench:{n}", f"bench.txt:{n}")
        for n in range(5000)
    ]
    started = time.perf_counter()
    listed = F.PhraseList(phrases)
    compile_ms = (time.perf_counter() - started) * 1000

    texts: list[str] = []
    for _ in range(queries):
        words = rng.sample(vocabulary, rng.randint(1, 6))
        if rng.random() < 0.10:
            words.insert(rng.randrange(len(words) + 1), _disguise(rng, rng.choice(phrases).text))
        texts.append(" ".join(words))
    timings, cpu, hits = _time_finds(listed, texts)
    figures = _spread("search", timings, cpu)
    print(f"search list: {len(listed)} phrases, compiled in {compile_ms:.0f} ms", file=out)
    print(
        f"  find over {queries} queries: mean {figures['search mean µs']:.1f} µs, "
        f"p50 {figures['search p50 µs']:.1f} µs, p99 {figures['search p99 µs']:.1f} µs, "
        f"CPU {figures['search CPU µs']:.1f} µs ({hits / queries:.1%} of queries matched)",
        file=out,
    )
    return {**figures, "search compile ms": compile_ms, "search matched %": hits / queries * 100}


def bench_extract(rng: random.Random, vocabulary: list[str], count: int, out: TextIO) -> Figures:
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
    extract_search = F.extract_search
    started, cpu = time.perf_counter(), time.thread_time()
    for host, path, query in requests:
        extract_search(host, path, query)
    mean = (time.perf_counter() - started) / count * 1e6
    cpu = (time.thread_time() - cpu) / count * 1e6
    print(f"  extract_search over {count} requests: mean {mean:.2f} µs, CPU {cpu:.2f} µs",
          file=out)
    return {"extract_search mean µs": mean, "extract_search CPU µs": cpu}


def gateway_page() -> bytes:
    """The page (~7 KB) the origin of bench/gateway_bench.py serves: same words, same layout."""
    words = ["the", "school", "library", "opens", "at", "nine", "and", "the", "maths", "club",
             "meets", "on", "tuesday"]
    return ("<html><head><title>News</title></head><body>" + "".join(
        f"<p>{' '.join(words[(i + j) % len(words)] for j in range(12))}</p>" for i in range(100)
    ) + "</body></html>").encode()


def bench_shipped(rng: random.Random, queries: int, out: TextIO) -> Figures:
    """The shipped search terms over school searches, the shipped page phrases over the
    gateway bench's page. The lists are read here, the same way for every tree."""
    import yaml

    entries = yaml.safe_load(PROSCRIBED.read_text(encoding="utf-8"))["entries"]
    names = [entry["phrase"] for entry in entries]
    listed = F.PhraseList(
        F.Phrase(name, "proscribed", 2, f"search:proscribed:{n}", f"proscribed.yaml:{n}")
        for n, name in enumerate(names)
    )
    corpus = [line for line in CORPUS.read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")]
    texts = []
    for _ in range(queries):
        text = rng.choice(corpus)
        if rng.random() < 0.10:
            words = text.split()
            words.insert(rng.randrange(len(words) + 1), _disguise(rng, rng.choice(names)))
            text = " ".join(words)
        texts.append(text)
    timings, cpu, hits = _time_finds(listed, texts)
    figures = _spread("shipped search", timings, cpu)
    print(f"shipped search terms: {len(names)} phrases over {queries} school searches: mean "
          f"{figures['shipped search mean µs']:.1f} µs, p50 {figures['shipped search p50 µs']:.1f}"
          f" µs, p99 {figures['shipped search p99 µs']:.1f} µs, CPU "
          f"{figures['shipped search CPU µs']:.1f} µs ({hits / queries:.1%} matched)",
          file=out)
    phrases = []
    for number, line in enumerate(PAGE_PHRASES.read_text(encoding="utf-8").splitlines(), 1):
        parsed = F.parse_weighted(line.strip())
        if parsed:
            phrases.append(F.WeightedPhrase(parsed[0], parsed[1], "extremist-language",
                                            f"page:local:{number}", f"local:{number}"))
    weighted = F.WeightedPhrases(phrases)
    body = gateway_page()
    page = _spread("gateway page", *_time_pages(weighted, [body] * 2000, warm=200))
    print(f"  shipped page phrases ({len(weighted)}) over the gateway bench's {len(body)}-byte "
          f"page: mean {page['gateway page mean µs']:.0f} µs, "
          f"p50 {page['gateway page p50 µs']:.0f} µs, "
          f"p99 {page['gateway page p99 µs']:.0f} µs, CPU {page['gateway page CPU µs']:.0f} µs",
          file=out)
    # Real pages also carry words the gateway has not seen before (names, dates, ids): the same
    # page with 30 tokens new to the fold cache in each copy.
    fresh = [body.replace(b"</body>", b"<p>" + b" ".join(
        b"ref%d" % rng.randrange(10**9) for _ in range(30)) + b"</p></body>") for _ in range(2000)]
    unseen = _spread("gateway page, 30 new words", *_time_pages(weighted, fresh, warm=200))
    print(f"  the same page with 30 new words each time: p50 "
          f"{unseen['gateway page, 30 new words p50 µs']:.0f} µs, "
          f"CPU {unseen['gateway page, 30 new words CPU µs']:.0f} µs", file=out)
    return {**figures, "shipped search matched %": hits / queries * 100, **page, **unseen}


def _time_pages(weighted: Any, pages: list[bytes], *, warm: int) -> tuple[list[float], float]:
    """Wall-clock µs per page after `warm` pages, and the loop's CPU µs per page."""
    for body in pages[:warm]:  # warm-up: the gateway has seen the site's words before
        weighted.score(body, HTML)
    timings: list[float] = []
    clock = time.perf_counter_ns
    cpu = time.thread_time_ns()
    for body in pages[warm:]:
        started_ns = clock()
        weighted.score(body, HTML)
        timings.append((clock() - started_ns) / 1000)
    return timings, (time.thread_time_ns() - cpu) / 1000 / len(timings)


def _page(rng: random.Random, vocabulary: list[str], phrases: list[Any], size: int) -> str:
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


def bench_weighted(rng: random.Random, vocabulary: list[str], out: TextIO) -> Figures:
    phrases = [
        F.WeightedPhrase(
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
    weighted = F.WeightedPhrases(phrases)
    print(f"weighted list: {len(weighted)} phrases, compiled in "
          f"{(time.perf_counter() - started) * 1000:.0f} ms", file=out)
    # The gateway's case: many ~8 KB pages over a shared vocabulary (a warm fold cache).
    pages = [_page(rng, vocabulary, phrases, 8192).encode() for _ in range(600)]
    figures = _spread("random 8 KB page", *_time_pages(weighted, pages, warm=100))
    print(f"  8 KB page (500 pages): mean {figures['random 8 KB page mean µs']:.0f} µs, "
          f"p50 {figures['random 8 KB page p50 µs']:.0f} µs, "
          f"p99 {figures['random 8 KB page p99 µs']:.0f} µs, "
          f"CPU {figures['random 8 KB page CPU µs']:.0f} µs", file=out)
    for size in (200_000, 2_000_000):
        figures.update(_big_page(rng, vocabulary, phrases, weighted, size, out))
    return figures


def _big_page(rng: random.Random, vocabulary: list[str], phrases: list[Any], weighted: Any,
              size: int, out: TextIO) -> Figures:
    page = _page(rng, vocabulary, phrases, size)
    body = page.encode()
    runs = []
    result = None
    for _ in range(3):
        started = time.perf_counter()
        result = weighted.score(body, HTML)
        runs.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    text = F.page_text(body, HTML)
    text_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    F.fold(text)
    fold_ms = (time.perf_counter() - started) * 1000
    assert result is not None
    print(f"  {size // 1000} KB page: best {min(runs):.0f} ms, mean {statistics.fmean(runs):.0f} ms"
          f" (page_text {text_ms:.0f} ms, fold {fold_ms:.0f} ms); score {result.score},"
          f" {len(result.hits)} phrases hit", file=out)
    name = f"{size // 1000} KB page"
    return {f"{name} best ms": min(runs), f"{name} score": result.score}


def run(args: argparse.Namespace, out: TextIO) -> Figures:
    rng = random.Random(args.seed)
    vocabulary = _vocabulary(rng, 20_000)
    figures = bench_search_list(rng, vocabulary, args.queries, out)
    figures.update(bench_extract(rng, vocabulary, args.queries, out))
    figures.update(bench_shipped(random.Random(args.seed), args.queries, out))
    figures.update(bench_weighted(rng, vocabulary, out))
    return figures


# --- the same workload against another checkout --------------------------------------------------

# Figures that say what was found rather than how long it took: shown, never turned into ratios.
_OUTCOMES = ("matched %", "score")


def _child(tree: Path, args: argparse.Namespace) -> Figures:
    command = [sys.executable, __file__, "--tree", str(tree), "--json",
               "--queries", str(args.queries), "--seed", str(args.seed)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    answer = json.loads(done.stdout)
    if Path(answer["filters from"]) != tree:
        raise SystemExit(f"{tree}: its filters were not the ones imported ({answer})")
    figures: Figures = answer["figures"]
    return figures


def _revision(tree: Path) -> str:
    done = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
                          capture_output=True, text=True)
    return done.stdout.strip()[:72] or "(not a git checkout)"


def compare(args: argparse.Namespace) -> None:
    this, other = ROOT, args.vs.resolve()
    if not (other / "filters" / "phrases.py").is_file():
        raise SystemExit(f"--vs {args.vs}: no filters/phrases.py there (a checkout of this repo?)")
    runs: dict[Path, list[Figures]] = {this: [], other: []}
    for number in range(args.rounds):
        order = (this, other) if number % 2 == 0 else (other, this)
        for tree in order:
            runs[tree].append(_child(tree, args))
        print(f"round {number + 1}/{args.rounds} done", file=sys.stderr)
    print(f"this tree:  {this}  ({_revision(this)})")
    print(f"other tree: {other}  ({_revision(other)})")
    print(f"medians of {args.rounds} interleaved runs each ({args.queries} queries, "
          f"seed {args.seed})\n")
    print(f"{'figure':32} {'this':>10} {'other':>10} {'this/other':>10}")
    for key in runs[this][0]:
        mine = statistics.median(run[key] for run in runs[this])
        theirs = statistics.median(run.get(key, float("nan")) for run in runs[other])
        outcome = key.endswith(_OUTCOMES)
        ratio = "" if outcome or not theirs else f"{mine / theirs:.2f}"
        print(f"{key:32} {mine:10.1f} {theirs:10.1f} {ratio:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vs", type=Path, metavar="PATH",
                        help="another checkout to run the same workload against")
    parser.add_argument("--rounds", type=int, default=7, help="runs of each tree with --vs")
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.vs is not None:
        compare(args)
        return
    imported = use_tree(args.tree.resolve())
    if args.json:
        figures = run(args, io.StringIO())
        print(json.dumps({"filters from": imported, "figures": figures}))
    else:
        run(args, sys.stdout)


if __name__ == "__main__":
    main()
