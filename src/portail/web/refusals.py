"""The words a dataset page uses when a filter in its URL is refused, in the page's language.

The services refuse a bad search box or ``refine``/``exclude`` value with the API's message,
which stays in English as Opendatasoft words it (API clients match on it). A French page
shows it in French: :func:`refusal` reads the message back through a table of the English
templates (``ODSQLError`` carries only its English ``detail`` and its ``clause``, no code or
arguments, so the template is the only structure there is). A message no template matches
gets a generic French sentence followed by the original, so a new wording in ``odsql`` is
shown, untranslated, never lost nor a 500.
"""

from __future__ import annotations

import ast
import re

from portail.web.i18n import STRINGS

#: Opendatasoft's envelope of every ODSQL error (``odsql.errors.ODSQLError.message``).
_ODSQL = re.compile(r"ODSQL query is malformed: (?P<detail>.*) Clause\(s\) containing the error\(s\): (?P<clause>\w+)\.",
                    re.S)

#: English template (``odsql``, ``api.facets``, ``api.explore_service``) -> French, in the order
#: they are tried: a specific wording before the general one it would also match.
FRENCH: dict[str, str] = {
    # the search box (v1's q, its field queries compiled to ODSQL) and any clause: odsql.parser, odsql.kinds
    "Invalid literal: a string holds a NUL character.":
        "Le texte contient un caractère nul (NUL), qui n'est pas accepté.",
    "Invalid literal: not a number.": "Valeur invalide : ce n'est pas un nombre.",
    "Invalid literal: integer out of range: {value}.": "Valeur invalide : entier hors limites : {value}.",
    "Invalid literal: number out of range: {value}.": "Valeur invalide : nombre hors limites : {value}.",
    "Invalid literal: date out of range: {value}.": "Valeur invalide : date hors limites : {value}.",
    "Invalid literal: {reason}.": "Valeur invalide : {reason}.",
    "Invalid date literal: {value}": "Date invalide : {value}",
    "A full-text search takes at most {max} words ({words} given).":
        "Une recherche en texte intégral prend au plus {max} mots ({words} donnés).",
    "The clause is longer than {max} characters.": "Le texte dépasse {max} caractères.",
    "The clause is empty.": "Le texte est vide.",
    "The clause is not text.": "Ce n'est pas du texte.",
    "The clause is not valid Unicode text.": "Ce n'est pas un texte Unicode valide.",
    "The expression is nested more than {max} levels deep.": "L'expression a plus de {max} niveaux d'imbrication.",
    'Unexpected character "{char}" at position {position}.': "Caractère « {char} » inattendu à la position {position}.",
    "Unexpected end of query.": "Fin de requête inattendue.",
    "Unexpected end of query at position {position}.": "Fin de requête inattendue à la position {position}.",
    'Unexpected "{token}" at position {position}.': "« {token} » inattendu à la position {position}.",
    "Unknown field: {field}": "Champ inconnu : {field}",
    "not a number: {value}": "Ce n'est pas un nombre : « {value} ».",
    # the search box read as v1's q (``api.v1_query``)
    "Invalid value for q API parameter: {value} is not a date.": "« {value} » n'est pas une date.",
    "Invalid value for q API parameter: #{call} is not a function of a known field ({forms}).":
        "#{call} n'est pas une fonction d'un champ connu ({forms}).",
    "Invalid value for q API parameter: q takes * only at the end of a word ({value}); "
    "a star itself is \\* in the text (\\\\* in a quoted string).":
        "Une étoile (*) ne se place qu'à la fin d'un mot (« {value} ») ; pour chercher une étoile elle-même, "
        "écrivez \\* (\\\\* entre guillemets).",
    # refine and exclude (api.facets)
    "Invalid value {value} for field {field} of type {type}.":
        "Valeur « {value} » invalide pour le champ {field}, de type {type}.",
    "Invalid date path {value}: YYYY, YYYY/MM or YYYY/MM/DD is expected.":
        "Date « {value} » invalide : AAAA, AAAA/MM ou AAAA/MM/JJ est attendu.",
    "Invalid value for {parameter} API parameter: the value holds a NUL character.":
        "La valeur du paramètre {parameter} contient un caractère nul (NUL), qui n'est pas accepté.",
    "Invalid value for {parameter} API parameter: {value} was found but '<field>:<value>' is expected.":
        "Valeur « {value} » invalide pour le paramètre {parameter} : « <champ>:<valeur> » est attendu.",
    # a dataset page's address naming none the caller may see (api.explore_service.get_visible_dataset)
    "Unknown dataset: {dataset}": "Jeu de données inconnu : {dataset}",
    # a row filter of the caller's group that cannot apply (api.explore_service.compile_odsql)
    "The access rules of this dataset cannot be applied; ask its administrator.":
        "Les règles d'accès de ce jeu de données ne peuvent pas s'appliquer : adressez-vous à son administrateur.",
}

#: Where the error is, as a visitor of a page put it there: the box is v1's ``q`` (a condition of
#: it the compiler refuses names ``q``: ``api.v1_query.checked``; its plain words, ``where``).
_PLACES = {"q": "dans la recherche", "where": "dans la recherche", "refine": "dans les filtres",
           "exclude": "dans les exclusions"}
_PLACES_EN = {"q": "in the search", "where": "in the search", "refine": "in the filters", "exclude": "in the exclusions"}
_UNKNOWN = "La requête a été refusée. Message d'origine : {message}"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _pattern(template: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(template)  # literal, name, literal, name, …, literal
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts)), re.S)


_PATTERNS = [(_pattern(english), french) for english, french in FRENCH.items()]


def _as_typed(name: str, text: str) -> str:
    """An argument as the visitor typed it: the API quotes a value the Python way (``'abc'``,
    ``"l'an"``), which the French sentence quotes « like this »; a type gets its French name."""
    if name == "value" and len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        return value if isinstance(value, str) else text
    if name == "type":
        return STRINGS["fr"].get(f"type_{text}", text).lower()
    return text


def _french_detail(detail: str) -> str | None:
    for pattern, french in _PATTERNS:
        match = pattern.fullmatch(detail)
        if match:
            return french.format(**{k: _as_typed(k, v) for k, v in match.groupdict().items()})
    return None


def refusal(message: str, lang: str) -> str:
    """``message``, a refusal of the services, as a page in ``lang`` shows it (English: the
    detail without the API's envelope, which names clauses a visitor never wrote)."""
    envelope = _ODSQL.fullmatch(message)
    if lang != "fr":
        if envelope is None:
            return message
        return f"{envelope['detail'].rstrip('.')} ({_PLACES_EN.get(envelope['clause'], 'in the ' + envelope['clause'])})."
    if envelope is None:
        return _french_detail(message) or _UNKNOWN.format(message=message)
    french = _french_detail(envelope["detail"])
    if french is None:
        return _UNKNOWN.format(message=message)
    clause = envelope["clause"]
    return f"{french.rstrip('.')} ({_PLACES.get(clause, f'dans la clause {clause}')})."
