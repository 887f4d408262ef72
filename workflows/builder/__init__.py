"""The workflow builder's logic, kept apart from its views so each part is testable alone.

``document`` edits a DSL document by path (insert, move, duplicate, delete, rename); ``canvas``
turns a document into the cards the page draws; ``summaries`` writes each card's one line;
``param_forms`` builds a card's form from its action's params schema and reads it back;
``condition_form`` does the same for the structured condition editor; ``scope`` lists the
variables in scope at a card; ``problems`` places the validator's problems on cards and fields;
``cron`` describes schedules; ``drafts`` holds the draft services (every write before Save, and
Save). Who may use the pages is ``workflows.access``'s rule, as everywhere else.
"""
