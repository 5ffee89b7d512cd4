"""planner: placeholder actor until its issue lands; answers pings only.

Receives: actor.ping.  Replies: actor.pong.  Restart: permanent.
"""

from actors._runtime import Actor, main

ACTOR = Actor("planner", handlers={})

if __name__ == "__main__":
    main(ACTOR)
