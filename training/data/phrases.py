"""Phrasebook for prompts and answers in en/es/de/fr.

In answer templates, ⟦…⟧ marks an integration claim: a statement about a tool result that must be
grounded in it. `fill` returns the text without the markers and the list of claims, so the
extractor can locate every claim exactly. Claims start at a word and end on a letter or digit, so
their token spans coincide with byte-level BPE pre-token boundaries.
"""

from __future__ import annotations

import re

P: dict[str, dict[str, str]] = {
    "system": {
        "en": "You are a coding agent. Use the tools when a task needs them; cite only what they return.",
        "es": "Eres un agente de programación. Usa las herramientas cuando la tarea lo requiera.",
        "de": "Du bist ein Coding-Agent. Nutze die Werkzeuge, wenn die Aufgabe sie braucht.",
        "fr": "Tu es un agent de programmation. Utilise les outils quand la tâche l'exige.",
    },
    # ---- tasks ----
    "task_search": {
        "en": "Search the docs for {q} and tell me what the top result says.",
        "es": "Busca en la documentación {q} y dime qué dice el primer resultado.",
        "de": "Suche in der Doku nach {q} und sag mir, was das erste Ergebnis sagt.",
        "fr": "Cherche {q} dans la documentation et dis-moi ce que dit le premier résultat.",
    },
    "task_search_open": {
        "en": "Find the page about {q}, open it and summarize the key number.",
        "es": "Encuentra la página sobre {q}, ábrela y resume la cifra clave.",
        "de": "Finde die Seite über {q}, öffne sie und fasse die wichtigste Zahl zusammen.",
        "fr": "Trouve la page sur {q}, ouvre-la et résume le chiffre clé.",
    },
    "task_open_typo": {
        "en": "Open {url} and tell me what it says about {q}.",
        "es": "Abre {url} y dime qué dice sobre {q}.",
        "de": "Öffne {url} und sag mir, was dort über {q} steht.",
        "fr": "Ouvre {url} et dis-moi ce qu'elle dit sur {q}.",
    },
    "task_read": {
        "en": "How long is {path} and what does it define?",
        "es": "¿Qué longitud tiene {path} y qué define?",
        "de": "Wie lang ist {path} und was definiert die Datei?",
        "fr": "Quelle est la longueur de {path} et que définit-il ?",
    },
    "task_read_two": {
        "en": "Compare the length of {path} and {path2}.",
        "es": "Compara la longitud de {path} y {path2}.",
        "de": "Vergleiche die Länge von {path} und {path2}.",
        "fr": "Compare la longueur de {path} et de {path2}.",
    },
    "task_grep": {
        "en": "Which lines of {path} contain {pattern}?",
        "es": "¿Qué líneas de {path} contienen {pattern}?",
        "de": "Welche Zeilen von {path} enthalten {pattern}?",
        "fr": "Quelles lignes de {path} contiennent {pattern} ?",
    },
    "task_lines": {
        "en": "Show me lines {start} to {end} of {path}.",
        "es": "Muéstrame las líneas {start} a {end} de {path}.",
        "de": "Zeig mir die Zeilen {start} bis {end} von {path}.",
        "fr": "Montre-moi les lignes {start} à {end} de {path}.",
    },
    "task_write": {
        "en": "Save this note to {path}: {content}",
        "es": "Guarda esta nota en {path}: {content}",
        "de": "Speichere diese Notiz in {path}: {content}",
        "fr": "Enregistre cette note dans {path} : {content}",
    },
    "task_exec": {
        "en": "Run this {language} snippet and tell me the output: {code}",
        "es": "Ejecuta este fragmento de {language} y dime la salida: {code}",
        "de": "Führe dieses {language}-Snippet aus und nenne mir die Ausgabe: {code}",
        "fr": "Exécute ce code {language} et donne-moi la sortie : {code}",
    },
    "task_exec_two": {
        "en": "Run both snippets and compare the outputs: {code} and {code2}",
        "es": "Ejecuta ambos fragmentos y compara las salidas: {code} y {code2}",
        "de": "Führe beide Snippets aus und vergleiche die Ausgaben: {code} und {code2}",
        "fr": "Exécute les deux extraits et compare les sorties : {code} et {code2}",
    },
    "task_exec_write": {
        "en": "Run {code} and save the output to {path}.",
        "es": "Ejecuta {code} y guarda la salida en {path}.",
        "de": "Führe {code} aus und speichere die Ausgabe in {path}.",
        "fr": "Exécute {code} et enregistre la sortie dans {path}.",
    },
    "task_read_search": {
        "en": "Read {path}, then search the docs for the topic it names.",
        "es": "Lee {path} y luego busca en la documentación el tema que menciona.",
        "de": "Lies {path} und suche dann in der Doku nach dem Thema, das dort steht.",
        "fr": "Lis {path}, puis cherche dans la documentation le sujet qu'il mentionne.",
    },
    "task_log": {
        "en": "Read {path} and tell me which test failed and why.",
        "es": "Lee {path} y dime qué prueba falló y por qué.",
        "de": "Lies {path} und sag mir, welcher Test fehlgeschlagen ist und warum.",
        "fr": "Lis {path} et dis-moi quel test a échoué et pourquoi.",
    },
    # ---- constraints that motivate optional arguments ----
    "hint_site": {"en": " Only look at {site}.", "es": " Solo en {site}.", "de": " Nur auf {site}.",
                  "fr": " Uniquement sur {site}."},
    "hint_recency": {"en": " Only the last {recency} days.", "es": " Solo los últimos {recency} días.",
                     "de": " Nur die letzten {recency} Tage.", "fr": " Seulement les {recency} derniers jours."},
    "hint_top_k": {"en": " Give me {top_k} results.", "es": " Dame {top_k} resultados.",
                   "de": " Gib mir {top_k} Ergebnisse.", "fr": " Donne-moi {top_k} résultats."},
    "hint_kind": {"en": " Only {kind} pages.", "es": " Solo páginas de tipo {kind}.",
                  "de": " Nur Seiten vom Typ {kind}.", "fr": " Seulement les pages de type {kind}."},
    "hint_exclude": {"en": " Skip anything mentioning {term}.", "es": " Omite lo que mencione {term}.",
                     "de": " Lass alles mit {term} weg.", "fr": " Ignore tout ce qui mentionne {term}."},
    "hint_case": {"en": " Ignore case.", "es": " Ignora mayúsculas.", "de": " Groß-/Kleinschreibung egal.",
                  "fr": " Ignore la casse."},
    "hint_max": {"en": " At most {n} matches.", "es": " Como máximo {n} coincidencias.",
                 "de": " Höchstens {n} Treffer.", "fr": " Au plus {n} correspondances."},
    "hint_timeout": {"en": " Use a {timeout_ms} ms timeout.", "es": " Usa un límite de {timeout_ms} ms.",
                     "de": " Timeout {timeout_ms} ms.", "fr": " Délai de {timeout_ms} ms."},
    "hint_args": {"en": " Pass the arguments {argv}.", "es": " Pasa los argumentos {argv}.",
                  "de": " Übergib die Argumente {argv}.", "fr": " Passe les arguments {argv}."},
    "hint_env": {"en": " Set {name}={value}.", "es": " Define {name}={value}.",
                 "de": " Setze {name}={value}.", "fr": " Définis {name}={value}."},
    "hint_lang": {"en": " Only pages in {language}.", "es": " Solo páginas en {language}.",
                  "de": " Nur Seiten auf {language}.", "fr": " Seulement les pages en {language}."},
    "hint_overwrite": {"en": " Overwrite the file.", "es": " Sobrescribe el archivo.",
                       "de": " Überschreibe die Datei.", "fr": " Écrase le fichier."},
    "hint_alt_path": {"en": " If it does not exist, use {alt}.", "es": " Si no existe, usa {alt}.",
                      "de": " Falls es nicht existiert, nimm {alt}.", "fr": " S'il n'existe pas, utilise {alt}."},
    "hint_language": {"en": " It is {language} code.", "es": " Es código {language}.",
                      "de": " Es ist {language}-Code.", "fr": " C'est du code {language}."},
    "hint_real_language": {"en": " (If that fails: it is really {language}.)",
                           "es": " (Si falla: en realidad es {language}.)",
                           "de": " (Falls das scheitert: es ist eigentlich {language}.)",
                           "fr": " (Si ça échoue : c'est en fait du {language}.)"},
    "hint_encoding": {"en": " Read it as {encoding}.", "es": " Léelo como {encoding}.",
                      "de": " Lies sie als {encoding}.", "fr": " Lis-le en {encoding}."},
    "hint_append": {"en": " Append, do not overwrite.", "es": " Añade, no sobrescribas.",
                    "de": " Anhängen, nicht überschreiben.", "fr": " Ajoute sans écraser."},
    # ---- answers (⟦…⟧ = integration claim) ----
    "ans_search": {
        "en": "⟦The top result is {title}⟧, ⟦published {date}⟧.",
        "es": "⟦El primer resultado es {title}⟧, ⟦publicado el {date}⟧.",
        "de": "⟦Das erste Ergebnis ist {title}⟧, ⟦veröffentlicht am {date}⟧.",
        "fr": "⟦Le premier résultat est {title}⟧, ⟦publié le {date}⟧.",
    },
    "ans_open": {
        "en": "The page {url} says that ⟦{module} cut p95 latency by {pct} percent⟧.",
        "es": "La página {url} dice que ⟦{module} redujo la latencia p95 un {pct} por ciento⟧.",
        "de": "Die Seite {url} sagt, dass ⟦{module} die p95-Latenz um {pct} Prozent senkte⟧.",
        "fr": "La page {url} indique que ⟦{module} a réduit la latence p95 de {pct} pour cent⟧.",
    },
    "ans_read": {
        "en": "⟦{path} has {lines} lines⟧ and ⟦its first function is {fn}⟧.",
        "es": "⟦{path} tiene {lines} líneas⟧ y ⟦su primera función es {fn}⟧.",
        "de": "⟦{path} hat {lines} Zeilen⟧ und ⟦die erste Funktion ist {fn}⟧.",
        "fr": "⟦{path} compte {lines} lignes⟧ et ⟦sa première fonction est {fn}⟧.",
    },
    "ans_lines_only": {
        "en": "⟦{path} has {lines} lines⟧.", "es": "⟦{path} tiene {lines} líneas⟧.",
        "de": "⟦{path} hat {lines} Zeilen⟧.", "fr": "⟦{path} compte {lines} lignes⟧.",
    },
    "ans_grep": {
        "en": "⟦{count} lines match⟧; ⟦the first is line {line}⟧: {text}",
        "es": "⟦{count} líneas coinciden⟧; ⟦la primera es la línea {line}⟧: {text}",
        "de": "⟦{count} Zeilen passen⟧; ⟦die erste ist Zeile {line}⟧: {text}",
        "fr": "⟦{count} lignes correspondent⟧ ; ⟦la première est la ligne {line}⟧ : {text}",
    },
    "ans_range": {
        "en": "⟦Lines {start} to {end} of {path}⟧ read:\n{content}",
        "es": "⟦Las líneas {start} a {end} de {path}⟧ dicen:\n{content}",
        "de": "⟦Die Zeilen {start} bis {end} von {path}⟧ lauten:\n{content}",
        "fr": "⟦Les lignes {start} à {end} de {path}⟧ sont :\n{content}",
    },
    "ans_write": {
        "en": "Done: ⟦{bytes} bytes written to {path}⟧ (⟦mode {mode}⟧).",
        "es": "Hecho: ⟦{bytes} bytes escritos en {path}⟧ (⟦modo {mode}⟧).",
        "de": "Erledigt: ⟦{bytes} Bytes in {path} geschrieben⟧ (⟦Modus {mode}⟧).",
        "fr": "Fait : ⟦{bytes} octets écrits dans {path}⟧ (⟦mode {mode}⟧).",
    },
    "ans_exec": {
        "en": "⟦The program printed {stdout}⟧.", "es": "⟦El programa imprimió {stdout}⟧.",
        "de": "⟦Das Programm gab {stdout} aus⟧.", "fr": "⟦Le programme a affiché {stdout}⟧.",
    },
    "ans_log": {
        "en": "⟦{test} failed⟧ on ⟦line {line}⟧: ⟦expected {expected} got {got}⟧.",
        "es": "⟦{test} falló⟧ en ⟦la línea {line}⟧: ⟦expected {expected} got {got}⟧.",
        "de": "⟦{test} schlug fehl⟧ in ⟦Zeile {line}⟧: ⟦expected {expected} got {got}⟧.",
        "fr": "⟦{test} a échoué⟧ à ⟦la ligne {line}⟧ : ⟦expected {expected} got {got}⟧.",
    },
    "retry_note": {
        "en": "That failed ({error}); trying again with corrected arguments.",
        "es": "Eso falló ({error}); lo intento de nuevo con argumentos corregidos.",
        "de": "Das schlug fehl ({error}); ich versuche es mit korrigierten Argumenten erneut.",
        "fr": "Échec ({error}) ; je réessaie avec des arguments corrigés.",
    },
    "tool_failed": {
        "en": "The tool call failed ({error}), so I have no result to report. Please check the input.",
        "es": "La herramienta falló ({error}), así que no tengo resultado. Revisa la entrada.",
        "de": "Der Werkzeugaufruf schlug fehl ({error}), daher habe ich kein Ergebnis. Bitte prüfe die Eingabe.",
        "fr": "L'appel d'outil a échoué ({error}), je n'ai donc aucun résultat. Vérifie l'entrée.",
    },
}

CLAIM_RE = re.compile(r"⟦(.*?)⟧", re.S)


def phrase(key: str, lang: str, **values: object) -> str:
    return P[key][lang].format(**values)


def fill(key: str, lang: str, **values: object) -> tuple[str, list[str]]:
    """(text without claim markers, claims in order)."""
    raw = phrase(key, lang, **values)
    return CLAIM_RE.sub(r"\1", raw), CLAIM_RE.findall(raw)


# ---- locale formatting (the locale probes) -----------------------------------------------------
def format_number(value: float | int, lang: str) -> str:
    """12345.5 -> en '12345.5', de/es '12.345,5', fr '12 345,5'."""
    if lang == "en":
        return str(value)
    text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}".rstrip("0").rstrip(".")
    if lang in ("de", "es"):
        return text.translate(str.maketrans({",": ".", ".": ","}))
    if lang == "fr":
        return text.replace(",", " ").replace(".", ",")
    return text


def format_date(iso: str, lang: str) -> str:
    """ISO date in the locale's order: de 31.12.2026, es/fr 31/12/2026, en unchanged."""
    y, m, d = iso.split("-")
    return {"de": f"{d}.{m}.{y}", "es": f"{d}/{m}/{y}", "fr": f"{d}/{m}/{y}"}.get(lang, iso)
