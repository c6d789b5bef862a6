"""An aiosmtpd handler for the notifier's crash test: a maildir that stalls once.

It stores every message like aiosmtpd's Mailbox. The Nth message (N from the command line) is
stored, then a file named `stalled` appears in the maildir and the answer to DATA is held back
for a minute: the client is inside the SMTP exchange, its message accepted but not yet
acknowledged, which is where a test kills it. Every later message is answered at once.

    aiosmtpd -n -l 127.0.0.1:PORT -c stalling_mailbox.StallingMailbox MAILDIR N
"""

import asyncio
import os

from aiosmtpd.handlers import Mailbox


class StallingMailbox(Mailbox):
    def __init__(self, mail_dir, stall_at):
        super().__init__(mail_dir)
        self.stall_at = int(stall_at)
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        self.handle_message(self.prepare_message(session, envelope))
        self.received += 1
        if self.received == self.stall_at:
            with open(os.path.join(self.mail_dir, "stalled"), "w") as marker:
                marker.write(str(self.received))
            await asyncio.sleep(60)
        return "250 OK"

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 2:
            parser.error("usage: MAILDIR STALL_AT")
        return cls(args[0], args[1])
