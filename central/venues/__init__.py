"""The venue admin pages' side of the database (docs/rollout.md, section 2): the list of venues in a staff member's
area, searched and filtered (`listing`), one venue with its kiosks and their heartbeats (`detail`), and the changes
made from the pages, each audited with its values before and after (`changes`). `search` folds Vietnamese text so
that "benh vien" finds "Bệnh viện".

Who may see which venue is central/web/venuescope.py's; these modules take the units an account sees as given.
"""
