"""A giveaway's public page and its draw's transcript.

`GET /contests/<id or slug>`: the contest, its commitment (sha256 of the seed, the drand
round), the frozen entry list once closed (pseudonyms and tickets only: nothing that names a
member), the result once drawn, and how to check it. `GET /contests/<id>/draw.json`: the whole
transcript, which `python main.py verify-draw URL` re-runs. An unknown contest is a 404
problem with the code `contest_not_found`; a transcript before the draw, `contest_not_drawn`.
"""

from __future__ import annotations

import html
import json
from datetime import datetime

from aiohttp import web

from core.games.contests.contests import ContestView
from core.games.contests.errors import ContestRefused
from core.games.contests.spec import localized
from core.program import LoyaltyProgram
from handlers.render.i18n import Translator
from web.app import problem

CONTEST_PATH = "/contests/{contest:[a-z0-9][a-z0-9-]{0,31}}"
# The page loads nothing from anywhere: no script, no font, no picture.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1d1d1f; }
code, .hash { font-family: ui-monospace, monospace; word-break: break-all; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 0.75rem; text-align: left; }
.commitment { background: #f5f5f7; padding: 0.75rem 1rem; border-radius: 0.5rem; }
"""


class ContestPages:
    def __init__(self, program: LoyaltyProgram, texts: Translator) -> None:
        self._program = program
        self._texts = texts

    def register_routes(self, app: web.Application) -> None:
        app.router.add_get(CONTEST_PATH, self.page)
        app.router.add_get(CONTEST_PATH + "/draw.json", self.transcript)

    async def transcript(self, request: web.Request) -> web.Response:
        try:
            transcript = await self._program.contests.transcript(request.match_info["contest"])
        except ContestRefused as refusal:
            return problem(404, code=refusal.code, detail="the draw has not taken place yet")
        body = json.dumps(transcript, ensure_ascii=False, indent=2, sort_keys=True)
        return web.Response(
            text=body, content_type="application/json", headers={"Cache-Control": "no-cache"}
        )

    async def page(self, request: web.Request) -> web.Response:
        contest = await self._program.contests.get(request.match_info["contest"])
        language = self._language(request)
        if contest.kind == "leaderboard":
            body = await self._render_leaderboard(contest, language)
        else:
            frozen = await self._program.contests.frozen_list(contest.id)
            body = self._render(contest, language, frozen)
        return web.Response(
            text=body, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS
        )

    def _language(self, request: web.Request) -> str:
        asked = request.query.get("lang")
        if asked:
            return self._texts.resolve(asked)
        for part in request.headers.get("Accept-Language", "").split(","):
            code = part.split(";")[0].strip()
            if code and self._texts.resolve(code) == code.split("-")[0].lower():
                return self._texts.resolve(code)
        return self._texts.default

    def _t(self, language: str, key: str, /, **args: object) -> str:
        return html.escape(self._texts.text(language, key, **args))

    def _when(self, language: str, moment: datetime) -> str:
        day = self._texts.date(language, moment.date(), style="long")
        return f"{day} {moment:%H:%M} UTC"

    def _head(self, contest: ContestView, language: str) -> list[str]:
        t = self._t
        title = html.escape(contest.title(language))
        direction = "rtl" if language == "fa" else "ltr"
        parts = [
            "<!doctype html>",
            f'<html lang="{language}" dir="{direction}"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{title}</title><style>{STYLE}</style></head><body>",
            f'<h1 id="title">{title}</h1>',
        ]
        if contest.spec.description:
            parts.append(f"<p>{html.escape(contest.description(language))}</p>")
        parts.append(f'<p id="state">{self._state(contest, language)}</p>')
        prize = self._prize(contest, language)
        parts.append(f'<p id="prize">{t(language, "contest-prize", prize=prize)}</p>')
        parts.append(
            "<p>"
            + t(language, "contest-places-winners", count=contest.winners)
            + " · "
            + t(language, "contest-places-reserves", count=contest.reserves)
            + "</p>"
        )
        return parts

    def _results(self, contest: ContestView, language: str) -> list[str]:
        t = self._t
        if contest.state != "drawn":
            return []
        parts = [f"<h2>{t(language, 'web-contest-results')}</h2>"]
        parts.append(
            f'<table id="results"><thead><tr><th>{t(language, "web-contest-position")}</th>'
            f"<th>{t(language, 'web-contest-pseudonym')}</th>"
            f"<th>{t(language, 'web-contest-status')}</th></tr></thead><tbody>"
        )
        for place in contest.places:
            parts.append(
                f'<tr class="{place.role}"><td>{place.position}</td>'
                f'<td class="hash">{html.escape(place.pseudonym)}</td>'
                f"<td>{html.escape(place.role)}: {html.escape(place.status)}</td></tr>"
            )
        parts.append("</tbody></table>")
        parts.append(
            f'<p><a id="transcript" href="/contests/{contest.id}/draw.json">'
            f"{t(language, 'web-contest-transcript')}</a></p>"
        )
        return parts

    async def _render_leaderboard(self, contest: ContestView, language: str) -> str:
        """A leaderboard contest: the live top 10 while it runs; the frozen standings, their
        hash and the winners once it is closed."""
        t = self._t
        parts = self._head(contest, language)
        metric = t(language, f"contest-metric-{contest.metric}")
        parts.append(f'<p id="metric">{t(language, "contest-ranked-by", metric=metric)}</p>')
        parts.append(f"<h2>{t(language, 'web-contest-standings')}</h2>")
        frozen = await self._program.contests.frozen_standings(contest.id)
        if contest.entries_sha256 is None:
            live = await self._program.contests.standings(contest.id, None)
            if not live.top:
                parts.append(f'<p id="standings">{t(language, "contest-standings-empty")}</p>')
            else:
                parts.append(
                    f'<table id="standings"><thead><tr><th>{t(language, "web-contest-position")}'
                    f"</th><th>{t(language, 'web-contest-name')}</th>"
                    f"<th>{t(language, 'web-contest-score')}</th></tr></thead><tbody>"
                )
                for place in live.top:
                    name = place.nickname or self._texts.text(
                        language, "leaderboard-hidden-name", number=str(place.pseudonym)
                    )
                    parts.append(
                        f"<tr><td>{place.rank}</td><td>{html.escape(name)}</td>"
                        f"<td>{place.score}</td></tr>"
                    )
                parts.append("</tbody></table>")
        else:
            parts.append(
                '<div class="commitment" id="frozen"><p>'
                + t(
                    language,
                    "contest-standings-frozen",
                    count=len(frozen),
                    hash=contest.entries_sha256,
                )
                + f'<br>sha256: <code id="entries-sha256">{contest.entries_sha256}</code></p></div>'
            )
            parts.append(
                f'<table id="standings"><thead><tr><th>{t(language, "web-contest-position")}</th>'
                f"<th>{t(language, 'web-contest-pseudonym')}</th>"
                f"<th>{t(language, 'web-contest-score')}</th>"
                f"<th>{t(language, 'web-contest-reached-at')}</th></tr></thead><tbody>"
            )
            for position, line in enumerate(frozen, start=1):
                parts.append(
                    f'<tr><td>{position}</td><td class="hash">{html.escape(line.pseudonym)}</td>'
                    f"<td>{line.score}</td><td>{html.escape(line.reached_at)}</td></tr>"
                )
            parts.append("</tbody></table>")
        parts.extend(self._results(contest, language))
        parts.append(f'<p id="how-to-check">{t(language, "web-contest-how-to-check-top")}</p>')
        parts.append("</body></html>")
        return "\n".join(parts)

    def _render(
        self, contest: ContestView, language: str, frozen: list[dict[str, object]] | None
    ) -> str:
        t = self._t
        parts = self._head(contest, language)
        parts.append('<div class="commitment" id="commitment">')
        parts.append(
            "<p>"
            + t(
                language,
                "contest-commitment",
                commitment=contest.seed_sha256,
                chain=contest.beacon_chain,
                round=str(contest.beacon_round),
            )
            + "</p>"
        )
        parts.append(
            f'<p>sha256(seed): <code id="seed-sha256">{contest.seed_sha256}</code><br>'
            f'drand {html.escape(contest.beacon_chain)}: <code id="beacon-round">'
            f"{contest.beacon_round}</code> "
            f'(<a href="{html.escape(contest.beacon_url)}" rel="noreferrer">'
            f"{html.escape(contest.beacon_url)}</a>)</p>"
        )
        if contest.entries_sha256:
            parts.append(
                "<p>"
                + t(
                    language,
                    "contest-frozen",
                    count=contest.entry_count,
                    hash=contest.entries_sha256,
                )
                + f'<br>sha256: <code id="entries-sha256">{contest.entries_sha256}</code></p>'
            )
        parts.append("</div>")
        parts.append(f"<h2>{t(language, 'web-contest-entries')}</h2>")
        if frozen is None:
            parts.append(f"<p>{t(language, 'web-contest-entries-open')}</p>")
        else:
            parts.append('<table id="entries"><thead><tr>')
            parts.append(
                f"<th>{t(language, 'web-contest-pseudonym')}</th>"
                f"<th>{t(language, 'web-contest-tickets')}</th></tr></thead><tbody>"
            )
            for line in frozen:
                parts.append(
                    f'<tr><td class="hash">{html.escape(str(line["pseudonym"]))}</td>'
                    f"<td>{int(str(line['tickets']))}</td></tr>"
                )
            parts.append("</tbody></table>")
        parts.extend(self._results(contest, language))
        parts.append(f'<p id="how-to-check">{t(language, "web-contest-how-to-check")}</p>')
        parts.append("</body></html>")
        return "\n".join(parts)

    def _state(self, contest: ContestView, language: str) -> str:
        if contest.state == "upcoming":
            return self._t(
                language, "contest-state-upcoming", date=self._when(language, contest.starts_at)
            )
        if contest.state == "open":
            return self._t(
                language, "contest-state-open", date=self._when(language, contest.ends_at)
            )
        if contest.kind == "leaderboard":
            final = contest.state == "drawn"
            return self._t(language, "contest-state-final" if final else "contest-state-counting")
        if contest.state in ("ended", "closed"):
            return self._t(
                language, "contest-state-closed", date=self._when(language, contest.draw_at)
            )
        return self._t(language, "contest-state-drawn")

    def _prize(self, contest: ContestView, language: str) -> str:
        prize = contest.spec.prize
        parts = []
        if prize.points:
            parts.append(self._texts.points(language, prize.points))
        if prize.coupon_campaign:
            parts.append(self._texts.text(language, "contest-prize-coupon"))
        if prize.item:
            parts.append(localized(prize.item, language))
        return " + ".join(parts)
