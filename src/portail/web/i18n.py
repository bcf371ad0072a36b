"""UI strings in French and English, and numbers, dates and counts (``plural``: "0 enregistrement",
"0 records") written the way each language writes them. The language comes from ``?lang=``,
then the browser's ``Accept-Language``.

Every string a page or our own JavaScript shows lives here (the scripts get theirs through a
``data-i18n`` JSON attribute), so a third language is one more dictionary. A key is never the
name of a dict method (``copy``, ``items``…): Jinja reads ``t.copy`` as the method, not the string.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from zoneinfo import ZoneInfo

STRINGS: dict[str, dict[str, str]] = {
    "fr": {
        "search": "Rechercher", "search_placeholder": "Rechercher un jeu de données", "datasets": "Jeux de données", "dataset": "Jeu de données",
        "records": "enregistrements", "themes": "Thèmes", "latest": "Dernières mises à jour", "catalogue": "Catalogue",
        "no_result": "Aucun jeu de données ne correspond.", "no_records": "Aucun enregistrement à afficher.", "records_closed_sign_in": "Les enregistrements de ce jeu de données sont réservés : connectez-vous pour les consulter.", "records_closed_denied": "Vos droits ne donnent pas accès aux enregistrements de ce jeu de données.", "information": "Informations", "table": "Tableau",
        "map": "Carte", "analyze": "Analyse", "export": "Export", "api": "API", "license": "Licence",
        "publisher": "Producteur", "owner": "Responsable", "frequency": "Fréquence de mise à jour", "modified": "Modifié le",
        "fields": "Champs", "name": "Nom", "label": "Libellé", "type": "Type", "description": "Description",
        "previous": "Précédent", "next": "Suivant", "page": "Page", "of": "sur", "download": "Télécharger",
        "all_formats": "Tous les formats", "home": "Accueil", "language": "Language: English", "theme": "Thème",
        "all": "Tous", "skip": "Aller au contenu", "attachments": "Pièces jointes", "total_records": "enregistrements publiés",
        "skip_table": "Aller au tableau", "skip_results": "Aller aux résultats",
        "keyword": "Mot-clé", "features": "Caractéristiques", "feature_geo": "Données géographiques",
        "feature_records": "Contient des enregistrements", "sort": "Trier par", "sort_-modified": "Les plus récents",
        "sort_title": "Titre (A→Z)", "sort_-popularity": "Les plus volumineux (pas encore de compteur de consultations)",
        "apply": "Appliquer", "filters": "Filtres", "clear_filters": "Effacer les filtres", "exclude": "Exclure",
        "excluded": "exclu", "remove_filter": "Retirer le filtre", "filter_records": "Filtrer les enregistrements",
        "largest": "Les plus volumineux", "largest_note": "Pas encore de compteur de consultations : classés par nombre d'enregistrements.",
        "keywords": "Mots-clés", "coverage": "Couverture", "temporal": "Période", "created": "Créé le",
        "dcat": "Métadonnées DCAT-AP (RDF)", "detail": "Détail", "record": "Enregistrement", "close": "Fermer",
        "record_not_found": "Cet enregistrement n'existe pas, ou plus.",
        # the record's scrolling table, a region inside the record's own: two regions named alike (axe)
        "record_values": "Valeurs de l'enregistrement",
        # the header's sign-in state (base.html)
        "my_account": "Mon compte", "sign_in": "Connexion", "sign_out": "Déconnexion",
        "page_not_found": "Cette page n'existe pas.",
        "form_expired": "Ce formulaire a expiré ou ne vient pas de ce site : rechargez la page et recommencez.",
        "form_insecure": ("Ce site est servi en HTTP alors que ses cookies de connexion exigent HTTPS : votre "
                          "navigateur les refuse. L'administrateur doit le servir en HTTPS (ou, pour un essai, "
                          "régler PORTAIL_SESSION_COOKIE_SECURE=false)."),
        "sort_by": "Trier par", "ascending": "croissant", "descending": "décroissant", "first": "Première",
        "last": "Dernière", "go_page": "Aller à la page", "go": "Aller", "value": "Valeur",
        "map_unavailable": "La bibliothèque cartographique n'est pas installée (lancez « make install ») : la carte ne peut pas s'afficher. Le tableau présente les mêmes données.",
        "map_no_geo": "Ce jeu de données n'a pas de champ géographique.",
        "map_alt": "Carte des enregistrements filtrés. Le même contenu est disponible sous forme de tableau :",
        "no_script": "La carte et le graphique se dessinent avec JavaScript, désactivé dans ce navigateur : le tableau présente les mêmes données.",
        "map_loading": "Chargement de la carte…", "color_by": "Couleur selon", "none": "Aucune",
        "clusters_note": "Regroupés côté serveur : zoomez pour voir les enregistrements.",
        "clusters_color_note": "Regroupés côté serveur, sans couleur : zoomez pour voir les enregistrements colorés.",
        "points_shown": "enregistrements affichés", "no_basemap": "Sans fond de carte",
        "unlocated": "enregistrements sans localisation", "unlocated_one": "enregistrement sans localisation",
        "map_all": "Voir tous les enregistrements",
        "map_outside": "enregistrements hors de la vue", "map_outside_one": "enregistrement hors de la vue",
        "chart_unavailable": "La bibliothèque de graphiques n'est pas installée (lancez « make install ») : le graphique ne peut pas s'afficher.",
        "chart_type": "Type de graphique", "chart_column": "Colonnes", "chart_bar": "Barres", "chart_line": "Courbe",
        "chart_area": "Aire", "chart_pie": "Secteurs", "chart_scatter": "Nuage de points", "x_field": "Axe X (regroupement)",
        "bucket": "Regroupement des dates", "bucket_year": "Année", "bucket_month": "Mois", "bucket_day": "Jour",
        "y_agg": "Valeur (axe Y)", "count": "Nombre d'enregistrements", "sum": "Somme", "avg": "Moyenne", "min": "Minimum",
        "max": "Maximum", "y_field": "Champ numérique", "series": "Séries (optionnel)", "draw": "Tracer",
        "download_png": "Image PNG", "download_svg": "Image SVG", "download_csv": "Données CSV",
        "chart_data": "Données du graphique (tableau)",
        "groups_cut": "Seuls les {shown} premiers groupes sur {total} sont représentés : choisissez un axe X ayant moins de valeurs, ou filtrez.",
        "chart_alt": "Graphique : ", "no_numeric": "aucun champ numérique",
        "chart_no_data": "Aucune donnée à représenter",
        "export_filtered": "Avec les filtres en cours", "export_all": "Jeu de données complet",
        "export_all_yours": "Toutes les lignes que vos droits montrent",
        "export_intro": "Les liens sont les URL d'export de l'API : réutilisez-les dans vos scripts.",
        "format": "Format", "size": "Taille", "unknown_size": "calculée au téléchargement",
        "endpoint": "Point d'accès", "ep_records": "Enregistrements (records)", "ep_facets": "Facettes (facets)",
        "ep_export": "Export CSV (exports/csv)", "ep_dataset": "Métadonnées du jeu de données", "limit": "Nombre maximum",
        "url": "URL", "copy_url": "Copier l'URL", "copied": "URL copiée", "run": "Envoyer la requête", "response": "Réponse",
        "snippets": "Exemples de code", "openapi": "Documentation OpenAPI", "error": "Erreur", "bad_filter": "Filtre invalide", "bad_search": "Recherche invalide", "colon": " :", "yes": "Oui", "no": "Non",
        "not_found": "Page introuvable", "select": "select (champs, expressions)",
        "where": "where (condition ODSQL)", "group_by": "group_by", "order_by": "order_by",
        "console_intro": "Composez une requête à l'API Explore v2.1 : l'URL, la commande curl et le code se mettent à jour.",
        "console_key": "Ce portail demande une clé d'API à vos scripts : remplacez YOUR_API_KEY par la vôtre, que vous "
                       "créez sur la page", "console_key_page": "Mon compte",
        "console_session": "Le bouton « Envoyer la requête » utilise votre session.",
        "popular": "Les plus volumineux", "other": "Autres valeurs",
        # the singular of a count's words (``plural``): 0 and 1 in French
        "datasets_one": "Jeu de données", "records_one": "enregistrement", "total_records_one": "enregistrement publié",
        "points_shown_one": "enregistrement affiché",
        # the map's clusters (map.js): a count button's name, a popup's heading and its "more" line
        "map_open": "zoomer ou les lister", "map_here": "ici", "map_more": "autres : zoomez pour les voir",
        # update frequencies (catalog.services.FREQUENCIES) and field types (schema.FieldType)
        "frequency_continuous": "En continu", "frequency_daily": "Quotidienne", "frequency_weekly": "Hebdomadaire",
        "frequency_monthly": "Mensuelle", "frequency_quarterly": "Trimestrielle", "frequency_annual": "Annuelle",
        "frequency_irregular": "Irrégulière", "frequency_never": "Jamais", "frequency_unknown": "Inconnue",
        "type_text": "Texte", "type_int": "Nombre entier", "type_double": "Nombre décimal", "type_boolean": "Booléen",
        "type_date": "Date", "type_datetime": "Date et heure", "type_geo_point_2d": "Point géographique",
        "type_geo_shape": "Forme géographique", "type_json": "JSON", "type_file": "Fichier",
    },
    "en": {
        "search": "Search", "search_placeholder": "Search datasets", "datasets": "Datasets", "dataset": "Dataset", "records": "records",
        "themes": "Themes", "latest": "Latest updates", "catalogue": "Catalogue", "no_result": "No dataset matches.", "no_records": "No records to show.", "records_closed_sign_in": "The records of this dataset are restricted: sign in to see them.", "records_closed_denied": "Your rights give no access to the records of this dataset.",
        "information": "Information", "table": "Table", "map": "Map", "analyze": "Analyze", "export": "Export",
        "api": "API", "license": "License", "publisher": "Publisher", "owner": "Data owner",
        "frequency": "Update frequency", "modified": "Modified", "fields": "Fields", "name": "Name", "label": "Label",
        "type": "Type", "description": "Description", "previous": "Previous", "next": "Next", "page": "Page", "of": "of",
        "download": "Download", "all_formats": "All formats", "home": "Home", "language": "Langue : français",
        "theme": "Theme", "all": "All", "skip": "Skip to content", "skip_table": "Skip to the table",
        "skip_results": "Skip to the results",
        "attachments": "Attachments",
        "total_records": "published records", "keyword": "Keyword", "features": "Features",
        "feature_geo": "Geographic data", "feature_records": "Has records", "sort": "Sort by",
        "sort_-modified": "Most recent", "sort_title": "Title (A→Z)",
        "sort_-popularity": "Largest (no view counter yet)", "apply": "Apply", "filters": "Filters",
        "clear_filters": "Clear filters", "exclude": "Exclude", "excluded": "excluded", "remove_filter": "Remove filter",
        "filter_records": "Filter records", "largest": "Largest datasets",
        "largest_note": "No view counter yet: ranked by number of records.", "keywords": "Keywords",
        "coverage": "Coverage", "temporal": "Period", "created": "Created", "dcat": "DCAT-AP metadata (RDF)",
        "detail": "Details", "record": "Record", "close": "Close",
        "record_not_found": "This record does not exist (any more).", "record_values": "The record's values", "my_account": "My account", "sign_in": "Sign in",
        "sign_out": "Sign out", "page_not_found": "This page does not exist.", "sort_by": "Sort by", "ascending": "ascending",
        "form_expired": "This form has expired or did not come from this site: reload the page and try again.",
        "form_insecure": ("This site is served over HTTP while its sign-in cookies require HTTPS: your browser "
                          "refuses them. The administrator must serve it over HTTPS (or, for a test, set "
                          "PORTAIL_SESSION_COOKIE_SECURE=false)."),
        "descending": "descending", "first": "First", "last": "Last", "go_page": "Go to page", "go": "Go",
        "value": "Value",
        "map_unavailable": "The map library is not installed (run \"make install\"): the map cannot be shown. The table shows the same data.",
        "map_no_geo": "This dataset has no geographic field.",
        "map_alt": "Map of the filtered records. The same content is available as a table:",
        "no_script": "The map and the chart are drawn with JavaScript, which this browser has turned off: the table shows the same data.",
        "map_loading": "Loading the map…", "color_by": "Colour by", "none": "None",
        "clusters_note": "Clustered on the server: zoom in to see the records.", "points_shown": "records shown",
        "unlocated": "records without a location", "unlocated_one": "record without a location",
        "map_all": "Show all records",
        "map_outside": "records outside the view", "map_outside_one": "record outside the view",
        "clusters_color_note": "Clustered on the server, without colours: zoom in to see the records coloured.",
        "no_basemap": "No basemap",
        "chart_unavailable": "The chart library is not installed (run \"make install\"): the chart cannot be shown.",
        "chart_type": "Chart type", "chart_column": "Column", "chart_bar": "Bar", "chart_line": "Line",
        "chart_area": "Area", "chart_pie": "Pie", "chart_scatter": "Scatter", "x_field": "X axis (group by)",
        "bucket": "Date bucketing", "bucket_year": "Year", "bucket_month": "Month", "bucket_day": "Day",
        "y_agg": "Value (Y axis)", "count": "Number of records", "sum": "Sum", "avg": "Average", "min": "Minimum",
        "max": "Maximum", "y_field": "Numeric field", "series": "Series (optional)", "draw": "Draw",
        "download_png": "PNG image", "download_svg": "SVG image", "download_csv": "CSV data",
        "chart_data": "Chart data (table)",
        "groups_cut": "Only the first {shown} groups of {total} are drawn: choose an X axis with fewer values, or filter.",
        "chart_alt": "Chart: ", "no_numeric": "no numeric field",
        "chart_no_data": "No data to chart",
        "export_filtered": "With the current filters", "export_all": "Whole dataset",
        "export_all_yours": "Every row your rights show",
        "export_intro": "Links are the API's export URLs: reuse them in your scripts.", "format": "Format",
        "size": "Size", "unknown_size": "computed on download", "endpoint": "Endpoint",
        "ep_records": "Records", "ep_facets": "Facets", "ep_export": "CSV export (exports/csv)",
        "ep_dataset": "Dataset metadata", "limit": "Limit", "url": "URL", "copy_url": "Copy the URL", "copied": "URL copied",
        "run": "Send request", "response": "Response", "snippets": "Code snippets", "openapi": "OpenAPI documentation",
        "error": "Error", "bad_filter": "Invalid filter", "bad_search": "Invalid search", "colon": ":", "yes": "Yes", "no": "No", "not_found": "Page not found",
        "select": "select (fields, expressions)", "where": "where (ODSQL condition)", "group_by": "group_by",
        "order_by": "order_by",
        "console_intro": "Compose an Explore API v2.1 query: the URL, the curl command and the code follow.",
        "console_key": "This portal asks your scripts for an API key: replace YOUR_API_KEY with yours, which you create "
                       "on the page", "console_key_page": "My account",
        "console_session": "The “Send request” button uses your session.",
        "popular": "Largest datasets", "other": "Other values",
        "datasets_one": "Dataset", "records_one": "record", "total_records_one": "published record",
        "points_shown_one": "record shown",
        "map_open": "zoom in or list them", "map_here": "here", "map_more": "more: zoom in to see them",
        "frequency_continuous": "Continuous", "frequency_daily": "Daily", "frequency_weekly": "Weekly",
        "frequency_monthly": "Monthly", "frequency_quarterly": "Quarterly", "frequency_annual": "Annual",
        "frequency_irregular": "Irregular", "frequency_never": "Never", "frequency_unknown": "Unknown",
        "type_text": "Text", "type_int": "Integer", "type_double": "Decimal number", "type_boolean": "Boolean",
        "type_date": "Date", "type_datetime": "Date and time", "type_geo_point_2d": "Geographic point",
        "type_geo_shape": "Geographic shape", "type_json": "JSON", "type_file": "File",
    },
}

#: MapLibre's own strings (its zoom buttons, the popup's close button…) by language, its keys
#: (``Popup.Close``) given to its ``locale`` option by map.js; none is MapLibre's default, English.
MAPLIBRE: dict[str, dict[str, str]] = {
    "fr": {"Popup.Close": "Fermer", "NavigationControl.ZoomIn": "Zoom avant",
           "NavigationControl.ZoomOut": "Zoom arrière", "NavigationControl.ResetBearing": "Réorienter la carte vers le nord",
           "Map.Title": "Carte", "AttributionControl.ToggleAttribution": "Afficher ou masquer les sources",
           "AttributionControl.MapFeedback": "Signaler une erreur sur la carte", "LogoControl.Title": "Logo MapLibre",
           "FullscreenControl.Enter": "Plein écran", "FullscreenControl.Exit": "Quitter le plein écran",
           "GeolocateControl.FindMyLocation": "Me localiser",
           "GeolocateControl.LocationNotAvailable": "Position indisponible",
           "CooperativeGesturesHandler.MobileHelpText": "Utilisez deux doigts pour déplacer la carte",
           "CooperativeGesturesHandler.WindowsHelpText": "Utilisez Ctrl + molette pour zoomer sur la carte",
           "CooperativeGesturesHandler.MacHelpText": "Utilisez ⌘ + molette pour zoomer sur la carte"},
    "en": {},
}

_MONTHS = {
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}


def plural(key: str, n: int | float | None, lang: str) -> str:
    """The string ``key`` agreeing with ``n``: its ``<key>_one`` form for one in English, for 0
    and 1 in French ("0 enregistrement", "1 record"), as CLDR's plural rules say."""
    one = n is not None and (abs(n) < 2 if lang == "fr" else n == 1)
    strings = STRINGS[lang]
    return strings.get(f"{key}_one", strings[key]) if one else strings[key]


def language(query_lang: str | None, accept_language: str | None) -> str:
    if query_lang in STRINGS:
        return query_lang
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in STRINGS:
            return code
    return "fr"


#: Enough digits for any double written in full with 20 decimals (``quantize`` needs them all).
_EXACT = Context(prec=400)


def format_number(value: int | float | None, lang: str, decimals: int | None = None) -> str:
    """``4 522`` (a narrow no-break space) and ``3,5`` in French, ``4,522`` and ``3.5`` in
    English. A fraction keeps 10 significant digits (``34,75196557``, not the stored
    ``34.7519655732477``, nor the float noise of ``0.1 + 0.2``): a table cell of 0.004 or of a coordinate is the value, not 0. With
    ``decimals`` (a field's ``decimals`` annotation), exactly that many: ``1 234,50``, rounded
    half away from zero from the exact value, as the map's and the chart's ``Intl`` round it
    (a float format would turn a large integer into a float and change its last digits), and
    no ``-0``."""
    if value is None:
        return ""
    if decimals is not None and math.isfinite(value):
        rounded = Decimal(value).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_UP, _EXACT)
        text = f"{rounded.copy_abs() if rounded.is_zero() else rounded:,.{decimals}f}"
    elif isinstance(value, float) and not value.is_integer():
        text = format(value, ",.10g")
    else:
        text = f"{int(value):,}"
    if lang == "fr":  # a narrow no-break space, as Intl writes it in the map and charts: never a line break inside
        return text.replace(",", "\u202f").replace(".", ",")
    return text


def month_name(month: int, lang: str) -> str:
    """``mars``, ``March``: the name of ``month`` (1–12), for dates and a date facet's months."""
    return _MONTHS[lang if lang in _MONTHS else "fr"][month - 1]


def format_date(value: date | datetime | None, lang: str) -> str:
    """``12 mars 2025`` (``1er mars``: French writes the first day as an ordinal) in French,
    ``March 12, 2025`` in English."""
    if value is None:
        return ""
    month = month_name(value.month, lang)
    day = "1er" if value.day == 1 else str(value.day)
    return f"{day} {month} {value.year}" if lang == "fr" else f"{month} {value.day}, {value.year}"


#: The time zone in which pages show the catalogue's own instants (a dataset's creation and
#: modification, an API key's dates) and read the dates typed in their forms: the French portal's,
#: whatever zone the server or the database session runs in (the catalogue hands back UTC).
PAGE_ZONE = ZoneInfo("Europe/Paris")


def page_moment(value: datetime) -> datetime:
    """An instant of the catalogue as the pages read it: in ``PAGE_ZONE`` (a naive one is UTC,
    as the catalogue stores instants)."""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(PAGE_ZONE)


def page_date(value: date | datetime | None, lang: str) -> str:
    """``format_date`` of a page's date: an instant (``dataset.modified``) on its day in
    ``PAGE_ZONE`` (23:30 UTC on 28 February is 1 March in Paris), a date as it is."""
    return format_date(page_moment(value) if isinstance(value, datetime) else value, lang)


def format_datetime(value: datetime, lang: str) -> str:
    """``12 mars 2025 à 14:05 CET``, ``March 12, 2025, 14:05 CET``: ``format_date`` and the
    time, seconds only when there are some, in the instant's own zone, named (``tzname``)."""
    clock = value.strftime("%H:%M:%S" if value.second or value.microsecond else "%H:%M")
    joined = " à " if lang == "fr" else ", "
    return f"{format_date(value, lang)}{joined}{clock} {value.tzname() or ''}".rstrip()


#: The "My account" page (``web/account_routes.py``): who is signed in, their API keys, the
#: applications they authorized. Refusals of ``auth`` it shows are translated in ``ACCOUNT_FRENCH``.
ACCOUNT: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Mon compte", "profile": "Profil", "login": "Identifiant", "display_name": "Nom", "email": "Courriel",
        "role": "Rôle", "groups": "Groupes", "no_group": "Aucun groupe",
        "role_admin": "Administrateur", "role_publisher": "Éditeur", "role_data_owner": "Responsable de données",
        "role_viewer": "Lecteur",
        "api_keys": "Clés d'API",
        "api_keys_intro": "Une clé d'API permet à vos scripts d'appeler l'API avec vos droits : envoyez-la dans "
                          "l'en-tête Authorization: Apikey <clé>.",
        "no_key": "Vous n'avez pas encore de clé d'API.", "key_name": "Nom", "key_id": "Identifiant",
        "scopes": "Droits", "created": "Créée le", "expires": "Valable jusqu'au", "last_used": "Dernière utilisation",
        "status": "État", "actions": "Actions", "never": "Jamais", "no_expiry": "Sans expiration",
        "state_active": "Active", "state_expired": "Expirée", "state_revoked": "Révoquée",
        "scope_read": "Lecture", "scope_manage": "Gestion",
        "scope_read_help": "lire les jeux de données et les enregistrements que vous pouvez voir",
        "scope_manage_help": "gérer ce que votre rôle vous permet de gérer",
        "limited": "limitée à {n} jeu(x) de données",
        "colon": " : ",
        "datasets_limit": "Limiter à certains jeux de données (facultatif)",
        "datasets_help": "Sans case cochée, la clé lit tout ce que vous pouvez lire ; sinon, seulement ces jeux de "
                         "données.",
        "unknown_dataset": "Un des jeux de données choisis n'existe pas ou ne vous est plus visible.",
        "create": "Créer une clé", "create_submit": "Créer la clé",
        "expires_optional": "Valable jusqu'au (facultatif)",
        "name_help": "Pour la reconnaître, par exemple : script de sauvegarde.",
        "created_title": "Votre nouvelle clé d'API",
        "created_once": "Copiez-la maintenant : elle ne sera plus jamais affichée. Si vous la perdez, révoquez-la et "
                        "créez-en une autre.",
        "secret": "Clé d'API « {name} »", "copy_key": "Copier la clé", "copied_key": "Clé copiée",
        "revoke": "Révoquer", "revoke_key": "Révoquer la clé {name}", "revoked_notice": "La clé « {name} » est révoquée.",
        "confirm_revoke": "Révoquer la clé « {name} » ? Les scripts qui l'utilisent cesseront de fonctionner.",
        "confirm_revoke_application": "Retirer à « {name} » l'accès à votre compte ?",
        "confirm_everywhere": "Fermer toutes vos sessions, celle-ci comprise ?",
        "applications": "Applications connectées",
        "applications_intro": "Ces applications agissent en votre nom, avec les droits que vous leur avez accordés.",
        "no_application": "Aucune application n'agit en votre nom.", "application": "Application",
        "authorized": "Autorisée le", "revoke_application": "Retirer l'accès de {name}",
        "application_revoked": "L'application n'a plus accès à votre compte.",
        "sessions": "Sessions",
        "everywhere_intro": "Termine toutes vos sessions, sur tous vos appareils, et retire l'accès de toutes les "
                            "applications. Vos clés d'API restent valides.",
        "everywhere": "Se déconnecter partout",
        "name_required": "Donnez un nom à la clé.", "manage_refused": "Votre rôle ne permet pas de clé de gestion.",
        "bad_date": "La date d'expiration n'est pas une date valide.",
        "unknown_key": "Cette clé d'API n'existe pas.",
        "unknown_application": "Cette application n'a pas accès à votre compte.",
        "browser_only": "Cette page se consulte connecté dans un navigateur, pas avec une clé d'API ou un jeton "
                        "d'application.",
    },
    "en": {
        "title": "My account", "profile": "Profile", "login": "Login", "display_name": "Name", "email": "Email",
        "role": "Role", "groups": "Groups", "no_group": "No group",
        "role_admin": "Administrator", "role_publisher": "Publisher", "role_data_owner": "Data owner",
        "role_viewer": "Viewer",
        "api_keys": "API keys",
        "api_keys_intro": "An API key lets your scripts call the API with your rights: send it in the "
                          "Authorization: Apikey <key> header.",
        "no_key": "You have no API key yet.", "key_name": "Name", "key_id": "Id",
        "scopes": "Scopes", "created": "Created", "expires": "Valid until", "last_used": "Last used",
        "status": "Status", "actions": "Actions", "never": "Never", "no_expiry": "No expiry",
        "state_active": "Active", "state_expired": "Expired", "state_revoked": "Revoked",
        "scope_read": "Read", "scope_manage": "Manage",
        "scope_read_help": "read the datasets and records you can see",
        "scope_manage_help": "manage what your role lets you manage",
        "limited": "limited to {n} dataset(s)",
        "colon": ": ",
        "datasets_limit": "Limit to some datasets (optional)",
        "datasets_help": "With no box ticked, the key reads all you may read; otherwise only these datasets.",
        "unknown_dataset": "One of the chosen datasets does not exist or is no longer visible to you.",
        "create": "Create a key", "create_submit": "Create the key", "expires_optional": "Valid until (optional)",
        "name_help": "To recognise it, for example: backup script.",
        "created_title": "Your new API key",
        "created_once": "Copy it now: it will not be shown again. If you lose it, revoke it and create another one.",
        "secret": "API key “{name}”", "copy_key": "Copy the key", "copied_key": "Key copied",
        "revoke": "Revoke", "revoke_key": "Revoke the key {name}", "revoked_notice": "The key “{name}” is revoked.",
        "confirm_revoke": "Revoke the key “{name}”? Scripts using it will stop working.",
        "confirm_revoke_application": "Take back the access of “{name}” to your account?",
        "confirm_everywhere": "Close all your sessions, this one included?",
        "applications": "Connected applications",
        "applications_intro": "These applications act on your behalf, with the rights you granted them.",
        "no_application": "No application acts on your behalf.", "application": "Application",
        "authorized": "Authorized", "revoke_application": "Remove the access of {name}",
        "application_revoked": "The application no longer has access to your account.",
        "sessions": "Sessions",
        "everywhere_intro": "Ends all your sessions, on all your devices, and removes every application's access. "
                            "Your API keys keep working.",
        "everywhere": "Sign out everywhere",
        "name_required": "Give the key a name.", "manage_refused": "Your role does not allow a management key.",
        "bad_date": "The expiry date is not a valid date.",
        "unknown_key": "This API key does not exist.",
        "unknown_application": "This application has no access to your account.",
        "browser_only": "This page is for a browser signed in, not for an API key or an application's token.",
    },
}
#: The French of what ``auth.keys`` refuses a new key with (written in English for the APIs).
ACCOUNT_FRENCH = {
    "An API key's expiry date must be in the future": "La date d'expiration d'une clé d'API doit être dans le futur",
    "An API key needs at least one scope (read or manage)": "Une clé d'API a besoin d'au moins un droit (lecture "
                                                            "ou gestion)",
}

# -- the dataset table's column chooser and the restricted-view notice (web.routes.dataset_page) --
STRINGS["fr"].update({
    "columns_choose": "Afficher/masquer des colonnes", "columns_shown": "Colonnes affichées",
    "columns_none": "Aucune case cochée : toutes les colonnes sont affichées.", "columns_all": "Toutes les colonnes",
    "columns_count": "colonnes", "columns_count_one": "colonne", "export_columns": "Avec les colonnes choisies",
    "restricted_rows": "Vue restreinte : vos droits limitent les lignes affichées.",
    "restricted_columns": "Vue restreinte : vos droits limitent les colonnes affichées.",
    "restricted_both": "Vue restreinte : vos droits limitent les lignes et les colonnes affichées.",
    "sort_dropped": "Tri sur « {name} » impossible : ce tableau n'a pas de colonne triable de ce nom. "
                    "Les enregistrements sont dans l'ordre par défaut.",
})
STRINGS["en"].update({
    "columns_choose": "Show/hide columns", "columns_shown": "Columns shown",
    "columns_none": "None ticked: every column is shown.", "columns_all": "All columns",
    "columns_count": "columns", "columns_count_one": "column", "export_columns": "With the chosen columns",
    "restricted_rows": "Restricted view: your rights limit the rows shown.",
    "restricted_columns": "Restricted view: your rights limit the columns shown.",
    "restricted_both": "Restricted view: your rights limit the rows and columns shown.",
    "sort_dropped": "Cannot sort by “{name}”: this table has no sortable column of that name. "
                    "The records are in the default order.",
})

# -- page titles that say the page's state (RGAA 8.6): web.catalogue.title_parts, dataset.html --
STRINGS["fr"].update({
    "title_search": "Recherche « {q} »", "title_page": "page {n}", "title_none": "aucun résultat",
    "title_filters": "{n} filtres", "title_filters_one": "{n} filtre", "sort_relevance": "Pertinence",
})
STRINGS["en"].update({
    "title_search": "Search “{q}”", "title_page": "page {n}", "title_none": "no results",
    "title_filters": "{n} filters", "title_filters_one": "{n} filter", "sort_relevance": "Relevance",
})

# -- single sign-on's refusals on the sign-in page (auth.oidc; web.auth_routes.in_language) --
#: Their French, by their English: a reference to quote or a detail in brackets after a message
#: (``oidc.NO_ACCOUNT SSO-…``, ``… (access_denied)``) is kept as is after its French.
SSO_FRENCH = {
    "Single sign-on could not sign you in here: ask an administrator to link your identity to an account, "
    "quoting the reference": "La connexion par le compte de l'institution n'a pas abouti : demandez à un "
                             "administrateur de relier votre identité à un compte, en citant la référence",
    "This sign-in link has expired; please sign in again": "Ce lien de connexion a expiré : connectez-vous à nouveau",
    "This browser did not keep the sign-in's cookie: allow cookies for this site, then sign in again":
        "Ce navigateur n'a pas gardé le cookie de la connexion : autorisez les cookies pour ce site, puis "
        "connectez-vous à nouveau",
    "The identity provider refused the sign-in": "Le fournisseur d'identité a refusé la connexion",
    "The identity provider cannot be reached": "Le fournisseur d'identité ne répond pas",
    "The identity provider announces another issuer": "Le fournisseur d'identité annonce un autre émetteur",
    "The identity provider sent no ID token": "Le fournisseur d'identité n'a pas envoyé de jeton d'identité",
    "The identity provider's token is not valid": "Le jeton du fournisseur d'identité n'est pas valide",
    "Another sign-in of this account was under way; please sign in again": "Une autre connexion à ce compte était "
                                                                           "en cours : connectez-vous à nouveau",
}
