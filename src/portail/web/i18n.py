"""UI strings in French and English; the language comes from ``?lang=``, then the browser."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "fr": {
        "search": "Rechercher", "search_placeholder": "Rechercher un jeu de données", "datasets": "Jeux de données",
        "records": "enregistrements", "themes": "Thèmes", "latest": "Dernières mises à jour", "catalogue": "Catalogue",
        "no_result": "Aucun jeu de données ne correspond.", "information": "Informations", "table": "Tableau",
        "export": "Export", "api": "API", "license": "Licence", "publisher": "Producteur", "owner": "Responsable",
        "frequency": "Fréquence de mise à jour", "modified": "Modifié le", "fields": "Champs", "name": "Nom",
        "label": "Libellé", "type": "Type", "description": "Description", "previous": "Précédent", "next": "Suivant",
        "page": "Page", "of": "sur", "download": "Télécharger", "all_formats": "Tous les formats",
        "home": "Accueil", "language": "Language: English", "theme": "Thème", "all": "Tous", "skip": "Aller au contenu",
        "attachments": "Pièces jointes", "total_records": "enregistrements publiés",
    },
    "en": {
        "search": "Search", "search_placeholder": "Search datasets", "datasets": "Datasets", "records": "records",
        "themes": "Themes", "latest": "Latest updates", "catalogue": "Catalogue", "no_result": "No dataset matches.",
        "information": "Information", "table": "Table", "export": "Export", "api": "API", "license": "License",
        "publisher": "Publisher", "owner": "Data owner", "frequency": "Update frequency", "modified": "Modified",
        "fields": "Fields", "name": "Name", "label": "Label", "type": "Type", "description": "Description",
        "previous": "Previous", "next": "Next", "page": "Page", "of": "of", "download": "Download",
        "all_formats": "All formats", "home": "Home", "language": "Langue : français", "theme": "Theme", "all": "All",
        "skip": "Skip to content", "attachments": "Attachments", "total_records": "published records",
    },
}


def language(query_lang: str | None, accept_language: str | None) -> str:
    if query_lang in STRINGS:
        return query_lang
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in STRINGS:
            return code
    return "fr"
