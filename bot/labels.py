"""Short labels a debtor sees on buttons and prompts, marked for translation.

Whole sentences a debtor reads in a message live in ``templates/messages``; only button
labels and one-line prompts belong here.
"""

from bot.i18n import N_

MENU = {
    "balance": N_("What I owe"),
    "pay": N_("Pay now"),
    "promise": N_("Promise to pay"),
    "plan": N_("Propose a plan"),
    "cant_pay": N_("I can't pay right now"),
    "dispute": N_("Dispute or complaint"),
    "person": N_("Talk to a person"),
    "stop": N_("Stop messages"),
    "language": N_("Language"),
}

SHARE_CONTACT = N_("Share my phone number")
ANSWER_QUESTION = N_("Answer a question instead")
PAY_ACCOUNT = N_("Pay {account_ref}")
CANCEL = N_("Cancel")
CONFIRM = N_("Confirm")
BACK = N_("Back")
