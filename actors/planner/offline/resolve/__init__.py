"""Stage 4 of the offline planner, resolve: markers and mentions become a Query.

    state.py     ResolverState: the question's mentions, the Query being built, and the choices
                 every role makes (which table, column, amount, date, value)
    measures.py  aggregates and superlatives      groups.py   groupings and sort orders
    filters.py   comparisons, NULL tests, never/without, quoted values
    free.py      the words no marker took         windows.py  time windows, newest/oldest
    walk.py      Resolver: the walk over the markers, in the order the roles depend on

Each role module is a mixin over ResolverState and calls only its own methods and the state's;
walk.py puts them together. Imports: the earlier stages of actors/planner/offline only.
"""
