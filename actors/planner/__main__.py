"""`python -m actors.planner`: the exec path of the planner actor (the supervisor's `spawn =
"exec"`)."""

from actors._runtime import main
from actors.planner.actor import ACTOR

main(ACTOR)
