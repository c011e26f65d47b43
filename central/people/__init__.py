"""Access lists at the centre (docs/access-list.md): the groups and people of each venue in access mode, imported
from CSV, and the list each kiosk of the venue pulls to decide offline who may pass, where and when.

By concern: `windows` (a group's weekly hours, read and checked), `csvfile` (reading an import file, and the
problems that refuse it), `groups` and `enrolment` (importing groups and people, all or nothing; listing,
counting, removing), `versions` (the list's version per venue, its lock) and `document` (the list and its ETag).
Everything others call is re-exported here.
"""

from central.people.csvfile import ImportRefused, Problem
from central.people.document import access_etag, access_list, list_etag
from central.people.enrolment import PeopleImported, count_people, import_people, name_context, remove_person
from central.people.groups import GroupsImported, import_groups, list_groups
from central.people.versions import list_version
from central.people.windows import Window, WindowError, format_windows, parse_windows

__all__ = [
    "GroupsImported",
    "ImportRefused",
    "PeopleImported",
    "Problem",
    "Window",
    "WindowError",
    "access_etag",
    "access_list",
    "count_people",
    "format_windows",
    "import_groups",
    "import_people",
    "list_etag",
    "list_groups",
    "list_version",
    "name_context",
    "parse_windows",
    "remove_person",
]
