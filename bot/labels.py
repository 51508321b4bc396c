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

# Conversations
FLOW_TIMED_OUT = N_("That conversation was left for a while, so let's start again.")
FLOW_GONE = N_(
    "The account we were talking about has changed in the meantime (it may have been paid or"
    " closed), so I have stopped there. Here is where things stand now."
)
STALE = N_(
    "That button belongs to an earlier message and no longer applies. Here is where we are now."
)
CANCELLED = N_("Cancelled. Nothing was changed.")
NOTHING_OWED = N_("There is nothing to pay right now. Thank you!")
TRY_AGAIN = N_(
    "Sorry, something went wrong on our side and your message was not handled. Please try"
    " again in a minute."
)
NOT_UNDERSTOOD = N_("Sorry, I did not understand that. Here is what I can help with:")

# Promise to pay
PROMISE_WHICH_ACCOUNT = N_("Which account is your promise for?")
PROMISE_WHEN = N_("When can you pay? Choose a date, or type one (for example {example}).")
PROMISE_DATE_PAST = N_("That date has already passed. Please choose today or a later date.")
PROMISE_DATE_TOO_LATE = N_("Please choose a date no later than {last}.")
PROMISE_DATE_UNREADABLE = N_(
    "Sorry, I could not read that date. Please type it like {example}, or choose a button."
)
PROMISE_DATE_IN_TEXT_UNREADABLE = N_("Sorry, I could not read the date in your message.")
PROMISE_HOW_MUCH = N_(
    "How much will you pay by {date}? Choose the full amount, or type an amount of at least {minimum}."
)
PROMISE_AMOUNT_UNREADABLE = N_(
    "Sorry, I could not read that amount. Please type a number like {example}."
)
AMOUNT_OTHER_CURRENCY = N_(
    "This account is in {currency}, so please type the amount in {currency}."
)
PROMISE_AMOUNT_TOO_SMALL = N_(
    "The smallest amount we can record is {minimum}. Please type a larger amount, or choose the full amount."
)
PROMISE_AMOUNT_TOO_LARGE = N_(
    "That is more than you owe ({balance}). Please type a smaller amount, or choose the full amount."
)
TODAY = N_("Today")
TOMORROW = N_("Tomorrow")
IN_3_DAYS = N_("In 3 days")
END_OF_WEEK = N_("End of this week")
IN_2_WEEKS = N_("In 2 weeks")
FULL_AMOUNT = N_("Full amount: {amount}")
CHANGE = N_("Change")

# Language
LANGUAGE_CHOOSE = N_("Which language would you like me to use?")
LANGUAGE_SET = N_("Done. I will write in English from now on.")
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}

# Repayment plan
PLAN_WHICH_ACCOUNT = N_("Which account would you like to spread over several payments?")
PLAN_HOW = N_(
    "You owe {balance}. In how many payments would you like to pay? Choose below, or type how much you can pay each time (for example {example})."
)
PLAN_OPTION = N_("{count} payments of {amount}")

# Reasons for a delay
SITUATION_ASK = N_("We are sorry to hear that. What is making it difficult to pay?")
SITUATION_SOON = N_("I can pay, but not yet")
SITUATION_LONG = N_("I cannot pay for a long time")
SITUATION_DISPUTE = N_("I do not think I owe this")
SITUATION_COMPLAINT = N_("I want to make a complaint")
SITUATION_DECEASED = N_("The account holder has died")
DISPUTE_OR_COMPLAINT = N_(
    "Do you disagree with the debt itself, or do you want to complain about how we handled it?"
)
SOON_OPTIONS = N_(
    "Thank you for telling us. You can promise a date, spread the amount over several payments, or pause our reminders for up to {days} days."
)
PAUSE = N_("Pause reminders for {days} days")
LONG_OPTIONS = N_(
    "Thank you for telling us. A plan of smaller payments may help, or a person from our team can look at your situation with you."
)
OFFER_PERSON = N_(
    "I am sorry I could not help with that. Would you like a person from our team to reply?"
)
CHANGED = N_("Something has changed since you chose that. Let's check the details again.")
PLAN_TOO_MANY = N_("That would take more than {count} payments. Please type a larger amount.")
PLAN_TOO_SMALL = N_(
    "This amount is small enough to pay in one go. You can pay it with the buttons below."
)

# The bot's command menu in Telegram (setMyCommands), one description per command
COMMANDS = {
    "start": N_("Start, or get messages again after stopping them"),
    "menu": N_("What you owe and what you can do"),
    "balance": N_("See what you owe"),
    "promise": N_("Promise to pay by a date"),
    "plan": N_("Propose a repayment plan"),
    "person": N_("Talk to a person"),
    "language": N_("Change the language"),
    "cancel": N_("Cancel what we are doing"),
    "stop": N_("Stop reminder messages"),
}
