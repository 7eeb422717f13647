from tests.integration.test_not_me_and_email_change import *  # noqa
from tests.integration.test_not_me_and_email_change import address_changed, alice  # noqa


def test_probe(address_changed, mailbox, live_stack):
    intruder, alices_link = address_changed
    assert request_email_change(intruder, "intruder.second@example.net").status_code == 202
    [*_, (_, confirmation)] = mails(mailbox, 3, live_stack)
    assert confirm_email_change(*link_in(confirmation, CONFIRM_LINK)[1:]).status_code == 200
    [*_, (envelope, notice)] = mails(mailbox, 4, live_stack)
    intruders_link = link_in(notice, NOT_ME_LINK)[0]
    lock(alices_link)
    [*_, (envelope, locked)] = mails(mailbox, 5, live_stack)
    assert confirm_reset(*link_in(locked, RESET_LINK)[1:]).status_code == 200
    mails(mailbox, 6, live_stack)
    page = try_to_lock(intruders_link)
    print("PAGE:", LOCKED_PAGE in page.text)
    [*_, (envelope, stolen)] = mails(mailbox, 7, live_stack)
    print("TO:", envelope.rcpt_tos, stolen["Subject"])
    print("reset:", confirm_reset(*link_in(stolen, RESET_LINK)[1:], password="intruder wins again").status_code)
    print("intruder login:", can_log_in("intruder wins again", email=INTRUDERS_ADDRESS))
    print("alice login:", can_log_in(OWNERS_NEW_PASSWORD, email=OLD_ADDRESS))
    msgs = mails(mailbox, 8, live_stack)
    print("all rcpts:", [(e.rcpt_tos, m["Subject"]) for e, m in msgs])
