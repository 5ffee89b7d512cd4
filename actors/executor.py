"""executor:<profile>: the only process that holds a connection to a profile's database.

Placeholder until the executor issue lands: it answers pings only.
Receives: actor.ping.  Replies: actor.pong.  Restart: permanent.
"""

from actors._runtime import Actor, main

ACTOR = Actor("executor", handlers={})

if __name__ == "__main__":
    main(ACTOR)
