"""Every sentence Balie says, in Dutch and English, and locale-aware dates (Babel)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_timedelta

from flows.domain import Language

DESK_TIMEZONE = ZoneInfo("Europe/Amsterdam")

CATALOG: dict[str, dict[Language, str]] = {
    # --- everywhere -------------------------------------------------------------------------
    "welcome": {
        Language.NL: "Welkom bij de balie. Ik help u met registreren, een vergeten wachtwoord "
        "en activatiecodes. Waarmee kan ik u helpen?",
        Language.EN: "Welcome to the desk. I can help you register, reset a forgotten password "
        "or get an activation code. What can I do for you?",
    },
    "welcome_linked": {
        Language.NL: "Hallo {name}. U bent bij {org} bekend als {role}.",
        Language.EN: "Hello {name}. You are known at {org} as {role}.",
    },
    "welcome_staff_hint": {
        Language.NL: "Openstaande registraties: /pending. Activatiecodes: /codes. Alle "
        "opdrachten: /help.",
        Language.EN: "Open registrations: /pending. Activation codes: /codes. All commands: /help.",
    },
    "welcome_out_of_service": {
        Language.NL: "Hallo {name}. Uw account bij {org} is uit dienst sinds {date}. Klopt dat "
        "niet? Neem dan contact op met uw manager.",
        Language.EN: "Hello {name}. Your account at {org} is out of service since {date}. If "
        "that is wrong, please contact your manager.",
    },
    "button_register": {Language.NL: "Registreren", Language.EN: "Register"},
    "button_forgot_password": {Language.NL: "Wachtwoord vergeten", Language.EN: "Forgot password"},
    "button_activation_code": {Language.NL: "Activatiecode", Language.EN: "Activation code"},
    "button_help": {Language.NL: "Help", Language.EN: "Help"},
    "button_cancel": {Language.NL: "Stoppen", Language.EN: "Cancel"},
    "button_resend": {Language.NL: "Stuur een nieuwe code", Language.EN: "Send a new code"},
    "button_change_contact": {
        Language.NL: "Ander adres of nummer",
        Language.EN: "Different address or number",
    },
    "button_approve": {Language.NL: "Goedkeuren", Language.EN: "Approve"},
    "button_reject": {Language.NL: "Afwijzen", Language.EN: "Reject"},
    # --- commands: menu descriptions and /help lines (flows/commands.py makes both) -------
    # One block for the lead to port to the .po files; it replaces help, help_staff and
    # help_managers, the hand-kept help lists (same sentences, one line per command).
    "help_heading": {
        Language.NL: "Zo werkt de balie:",
        Language.EN: "How the desk works:",
    },
    "help_staff_heading": {
        Language.NL: "Voor de balie en managers:",
        Language.EN: "For desk staff and managers:",
    },
    "help_managers_heading": {
        Language.NL: "Voor managers:",
        Language.EN: "For managers:",
    },
    "command_start_menu": {
        Language.NL: "Opnieuw beginnen en kiezen wat u wilt doen",
        Language.EN: "Start over and choose what to do",
    },
    "command_start_help": {
        Language.NL: "/start - begin opnieuw",
        Language.EN: "/start - start over",
    },
    "command_register_menu": {
        Language.NL: "Registreren als medewerker van een kantoor",
        Language.EN: "Register as an employee of an office",
    },
    "command_register_help": {
        Language.NL: "/register - registreer als medewerker van een kantoor: u heeft het "
        "partner-ID uit de brief nodig en uw eigen e-mailadres of mobiele nummer; een "
        "manager keurt goed",
        Language.EN: "/register - register as an employee of an office: you need the "
        "partner ID from the letter and your own e-mail address or mobile number; a "
        "manager approves",
    },
    "command_activation_menu": {
        Language.NL: "Activatiecode aanvragen voor het klantportaal",
        Language.EN: "Request an activation code for the customer portal",
    },
    "command_activation_help": {
        Language.NL: "/activation - vraag een activatiecode aan voor het klantportaal met "
        "uw klantnummer, postcode en huisnummer; de code komt per e-mail of per brief",
        Language.EN: "/activation - request an activation code for the customer portal "
        "with your customer number, postcode and house number; the code comes by e-mail "
        "or by letter",
    },
    "command_activate_menu": {
        Language.NL: "Account activeren met uw activatiecode",
        Language.EN: "Activate your account with your activation code",
    },
    "command_activate_help": {
        Language.NL: "/activate - heeft u een activatiecode? Activeer uw account en kies "
        "een wachtwoord",
        Language.EN: "/activate - have an activation code? Activate your account and "
        "choose a password",
    },
    "command_password_menu": {
        Language.NL: "Wachtwoord vergeten",
        Language.EN: "Forgot your password",
    },
    "command_password_help": {
        Language.NL: "/password - wachtwoord vergeten? U krijgt een code per e-mail of sms",
        Language.EN: "/password - forgot your password? You get a code by e-mail or text message",
    },
    "command_language_menu": {
        Language.NL: "Nederlands of English kiezen",
        Language.EN: "Choose Nederlands or English",
    },
    "command_language_help": {
        Language.NL: "/language - kies Nederlands of English",
        Language.EN: "/language - choose Nederlands or English",
    },
    "command_cancel_menu": {
        Language.NL: "Stoppen waar u mee bezig bent",
        Language.EN: "Stop what you are doing",
    },
    "command_cancel_help": {
        Language.NL: "/cancel - stop waar u mee bezig bent",
        Language.EN: "/cancel - stop what you are doing",
    },
    "command_help_menu": {
        Language.NL: "Uitleg over de balie",
        Language.EN: "How the desk works",
    },
    "command_codes_menu": {
        Language.NL: "Activatiecodes die wachten op vrijgave",
        Language.EN: "Activation codes waiting for release",
    },
    "command_codes_help": {
        Language.NL: "/codes - activatiecodes die wachten op vrijgave",
        Language.EN: "/codes - activation codes waiting for release",
    },
    "command_release_menu": {
        Language.NL: "Activatiecode vrijgeven: /release N",
        Language.EN: "Release an activation code: /release N",
    },
    "command_release_help": {
        Language.NL: "/release N - geef activatiecode #N vrij",
        Language.EN: "/release N - release activation code #N",
    },
    "command_refuse_menu": {
        Language.NL: "Activatiecode weigeren: /refuse N reden",
        Language.EN: "Refuse an activation code: /refuse N reason",
    },
    "command_refuse_help": {
        Language.NL: "/refuse N reden - weiger activatiecode #N, met een reden",
        Language.EN: "/refuse N reason - refuse activation code #N, with a reason",
    },
    "command_outbox_menu": {
        Language.NL: "Berichtenwachtrij en wat niet aankwam",
        Language.EN: "Notification queue and what did not arrive",
    },
    "command_outbox_help": {
        Language.NL: "/outbox - de berichtenwachtrij en wat er niet aankwam",
        Language.EN: "/outbox - the notification queue and what did not arrive",
    },
    "command_pending_menu": {
        Language.NL: "Openstaande registraties",
        Language.EN: "Open registrations",
    },
    "command_pending_help": {
        Language.NL: "/pending - openstaande registraties",
        Language.EN: "/pending - open registrations",
    },
    "command_approve_menu": {
        Language.NL: "Aanvraag goedkeuren: /approve N",
        Language.EN: "Approve a request: /approve N",
    },
    "command_approve_help": {
        Language.NL: "/approve N - keur aanvraag #N goed",
        Language.EN: "/approve N - approve request #N",
    },
    "command_reject_menu": {
        Language.NL: "Aanvraag afwijzen: /reject N reden",
        Language.EN: "Reject a request: /reject N reason",
    },
    "command_reject_help": {
        Language.NL: "/reject N reden - wijs aanvraag #N af, met een reden",
        Language.EN: "/reject N reason - reject request #N, with a reason",
    },
    "command_employees_menu": {
        Language.NL: "Medewerkers en hun status",
        Language.EN: "Employees and their status",
    },
    "command_employees_help": {
        Language.NL: "/employees - medewerkers en hun status",
        Language.EN: "/employees - employees and their status",
    },
    "command_offboard_menu": {
        Language.NL: "Uit dienst zetten: /offboard e-mail|nummer JJJJ-MM-DD",
        Language.EN: "Take out of service: /offboard email|number YYYY-MM-DD",
    },
    "command_offboard_help": {
        Language.NL: "/offboard e-mail|nummer JJJJ-MM-DD - zet een medewerker uit dienst "
        "vanaf die datum",
        Language.EN: "/offboard email|number YYYY-MM-DD - take an employee out of service "
        "from that date",
    },
    # --- end of the commands block -------------------------------------------------------
    "cancelled": {
        Language.NL: "Gestopt; er is niets bewaard. Typ /start om opnieuw te beginnen.",
        Language.EN: "Stopped; nothing was saved. Type /start to begin again.",
    },
    "nothing_to_cancel": {
        Language.NL: "Er loopt nu niets om te stoppen. Typ /start om te kiezen wat u wilt doen.",
        Language.EN: "Nothing is running right now. Type /start to choose what to do.",
    },
    "language_choose": {
        Language.NL: "Kies uw taal.",
        Language.EN: "Choose your language.",
    },
    "language_set": {
        Language.NL: "Ik spreek vanaf nu Nederlands met u.",
        Language.EN: "I will speak English with you from now on.",
    },
    "private_only": {
        Language.NL: "Stuur mij een privébericht; in een groep help ik niet, want codes en "
        "adressen zijn persoonlijk.",
        Language.EN: "Please send me a private message; I don't help in groups, because codes "
        "and addresses are personal.",
    },
    "unknown_command": {
        Language.NL: "Die opdracht ken ik niet. Typ /help voor wat ik kan.",
        Language.EN: "I don't know that command. Type /help to see what I can do.",
    },
    "unsupported_content": {
        Language.NL: "Ik kan hier alleen tekst lezen.",
        Language.EN: "I can only read text here.",
    },
    "choose_a_button": {
        Language.NL: "Kies een van de knoppen hieronder, of typ /help.",
        Language.EN: "Please choose one of the buttons below, or type /help.",
    },
    "stale_button": {
        Language.NL: "Deze knop werkt niet meer. Typ /start om opnieuw te beginnen.",
        Language.EN: "This button no longer works. Type /start to begin again.",
    },
    "internal_error": {
        Language.NL: "Er ging bij ons iets mis. Probeer het over een moment opnieuw; uw "
        "gegevens zijn bewaard.",
        Language.EN: "Something went wrong on our side. Please try again in a moment; your "
        "progress has been kept.",
    },
    # --- registration (seed 000) -----------------------------------------------------------
    "ask_partner_id": {
        Language.NL: "Stap 1 van 3: typ het partner-ID van uw kantoor. Dat nummer staat in de "
        "brief die uw kantoor van ons kreeg.",
        Language.EN: "Step 1 of 3: type your office's partner ID. It is in the letter your "
        "office received from us.",
    },
    "partner_id_unknown": {
        Language.NL: "Partner-ID {partner_id} ken ik niet. Controleer de brief en typ het "
        "opnieuw, of stop met /cancel.",
        Language.EN: "I don't know partner ID {partner_id}. Please check the letter and type "
        "it again, or stop with /cancel.",
    },
    "ask_contact": {
        Language.NL: "Stap 2 van 3: typ uw eigen e-mailadres of mobiele nummer voor {org}. We "
        "sturen daar een bevestigingscode naartoe.",
        Language.EN: "Step 2 of 3: type your own e-mail address or mobile number for {org}. "
        "We will send a confirmation code to it.",
    },
    "partner_id_wait": {
        Language.NL: "U heeft te vaak een onbekend partner-ID getypt. Probeer het over {minutes} "
        "minuten opnieuw, of vraag uw kantoor om het partner-ID uit de brief.",
        Language.EN: "You have typed an unknown partner ID too often. Please try again in "
        "{minutes} minutes, or ask your office for the partner ID in the letter.",
    },
    "contact_country_not_served": {
        Language.NL: "Naar dat land sturen we geen sms. Typ in plaats daarvan uw e-mailadres "
        "(naam@voorbeeld.nl).",
        Language.EN: "We do not send text messages to that country. Please type your e-mail "
        "address instead (name@example.com).",
    },
    "sms_unavailable": {
        Language.NL: "We kunnen op dit moment geen sms sturen. Typ in plaats daarvan uw "
        "e-mailadres (naam@voorbeeld.nl).",
        Language.EN: "We cannot send text messages right now. Please type your e-mail address "
        "instead (name@example.com).",
    },
    "staff_sms_budget_spent": {
        Language.NL: "Let op: {org} heeft het uurbudget van {count} sms-codes bereikt. Tot het "
        "uur om is, gaan codes alleen per e-mail; wie een mobiel nummer typt, wordt om een "
        "e-mailadres gevraagd.",
        Language.EN: "Note: {org} has reached its hourly budget of {count} code text messages. "
        "Until the hour has passed, codes go by e-mail only; whoever types a mobile number is "
        "asked for an e-mail address.",
    },
    "chat_link_needs_approval": {
        Language.NL: "Bevestigd. Dit adres hoort bij een account met beheerrechten bij {org}. "
        "Voor de veiligheid moet een andere manager eerst akkoord geven voordat deze chat "
        "eraan gekoppeld wordt. Uw verzoek #{number} ligt bij hen; u hoort het hier.",
        Language.EN: "Confirmed. This address belongs to an account with desk powers at {org}. "
        "For safety another manager must agree before this chat is linked to it. Your "
        "request #{number} is with them; you will hear here.",
    },
    "staff_new_link_request": {
        Language.NL: "Koppelverzoek #{number} ({org}): {name} bevestigde {contact} vanuit een "
        "nieuwe Telegram-chat en wil die aan het account koppelen ({when}). Keur alleen goed "
        "als u bij {name} heeft nagevraagd dat dit klopt.",
        Language.EN: "Link request #{number} ({org}): {name} confirmed {contact} from a new "
        "Telegram chat and wants it linked to the account ({when}). Approve only after "
        "checking with {name} that this is really them.",
    },
    "approved_link_chat": {
        Language.NL: "Deze chat is nu gekoppeld aan uw account bij {org}.",
        Language.EN: "This chat is now linked to your account at {org}.",
    },
    "rejected_link_chat": {
        Language.NL: "Uw verzoek om deze chat te koppelen aan uw account bij {org} is "
        "afgewezen{reason}.",
        Language.EN: "Your request to link this chat to your account at {org} was "
        "rejected{reason}.",
    },
    "decided_by_admin": {Language.NL: "een beheerder (CLI)", Language.EN: "an admin (CLI)"},
    "staff_not_own_request": {
        Language.NL: "Over een verzoek voor uw eigen account beslist een andere manager.",
        Language.EN: "Another manager decides on a request for your own account.",
    },
    "chat_linked_notice": {
        Language.NL: "Op {when} is een nieuwe chat gekoppeld aan uw account bij {org}; deze "
        "chat is niet meer gekoppeld. Was u dat niet? Druk op Ongedaan maken om deze chat "
        "weer te koppelen en de andere los te koppelen, en neem contact op met de balie: "
        "{contact}.",
        Language.EN: "On {when} a new chat was linked to your account at {org}; this chat is "
        "no longer linked. Not you? Press Undo to link this chat again and unlink the other "
        "one, and contact the desk: {contact}.",
    },
    "chat_link_asked_notice": {
        Language.NL: "Op {when} heeft iemand vanuit een nieuwe chat gevraagd om uw account bij "
        "{org} daaraan te koppelen. Een andere manager moet dat goedkeuren. Was u dat niet? "
        "Laat het uw collega's en de balie weten: {contact}.",
        Language.EN: "On {when} someone in a new chat asked to link your account at {org} to "
        "it. Another manager must approve that. Not you? Tell your colleagues and the desk: "
        "{contact}.",
    },
    "mail_chat_linked_subject": {
        Language.NL: "Nieuwe chat bij uw account",
        Language.EN: "A new chat for your account",
    },
    "mail_chat_linked_body": {
        Language.NL: "Beste {name},\n\nOp {when} is een nieuwe Telegram-chat gekoppeld aan uw "
        "account bij {org}. Deed u dit zelf? Dan hoeft u niets te doen. Zo niet: druk in uw "
        "vorige chat op Ongedaan maken, of neem direct contact op met de balie: {contact}.",
        Language.EN: "Dear {name},\n\nOn {when} a new Telegram chat was linked to your "
        "account at {org}. If you did this yourself, there is nothing to do. If not, press "
        "Undo in your previous chat, or contact the desk at once: {contact}.",
    },
    "mail_chat_link_asked_body": {
        Language.NL: "Beste {name},\n\nOp {when} vroeg iemand vanuit een nieuwe Telegram-chat "
        "om uw account bij {org} daaraan te koppelen. Een andere manager moet dat eerst "
        "goedkeuren. Was u dat niet? Neem dan direct contact op met de balie: {contact}.",
        Language.EN: "Dear {name},\n\nOn {when} someone in a new Telegram chat asked to link "
        "your account at {org} to it. Another manager must approve that first. If that was "
        "not you, please contact the desk at once: {contact}.",
    },
    "button_undo_link": {Language.NL: "Ongedaan maken", Language.EN: "Undo"},
    "link_undone": {
        Language.NL: "Gedaan: deze chat is weer aan uw account gekoppeld en de andere chat is "
        "losgekoppeld. Wijzig voor de zekerheid uw wachtwoord (/password).",
        Language.EN: "Done: this chat is linked to your account again and the other chat is "
        "unlinked. To be safe, change your password (/password).",
    },
    "link_undone_toast": {Language.NL: "Ongedaan gemaakt", Language.EN: "Undone"},
    "link_undone_other": {
        Language.NL: "Deze chat is door de eigenaar van het account losgekoppeld.",
        Language.EN: "This chat was unlinked from the account by its owner.",
    },
    "link_undo_stale": {
        Language.NL: "Er valt niets meer ongedaan te maken: de koppeling is al veranderd.",
        Language.EN: "There is nothing left to undo: the link has changed since.",
    },
    "activation_code_malformed": {
        Language.NL: "Een activatiecode heeft 12 letters en cijfers, bijvoorbeeld "
        "ABCD-EFGH-JKMN. Typ hem zoals hij in de brief of e-mail staat.",
        Language.EN: "An activation code has 12 letters and digits, for example "
        "ABCD-EFGH-JKMN. Type it as it is in the letter or e-mail.",
    },
    "reset_choose_account": {
        Language.NL: "Bij dit adres horen meerdere accounts. Typ het klantnummer van het "
        "account waarvan u het wachtwoord wilt instellen:\n{accounts}",
        Language.EN: "Several accounts belong to this address. Type the customer number of the "
        "account whose password you want to set:\n{accounts}",
    },
    "contact_bad_email": {
        Language.NL: "Dat e-mailadres klopt niet. Typ het zo: naam@voorbeeld.nl",
        Language.EN: "That e-mail address is not valid. Type it like this: name@example.com",
    },
    "contact_role_address": {
        Language.NL: "Dat is een gedeeld adres (zoals info@). Gebruik uw eigen, persoonlijke "
        "e-mailadres of mobiele nummer, zodat alleen u de code ontvangt.",
        Language.EN: "That is a shared address (like info@). Please use your own, personal "
        "e-mail address or mobile number, so that only you receive the code.",
    },
    "contact_bad_phone": {
        Language.NL: "Dat telefoonnummer klopt niet. Typ een mobiel nummer, bijvoorbeeld "
        "06 12345678 of +31 6 12345678.",
        Language.EN: "That phone number is not valid. Type a mobile number, for example "
        "06 12345678 or +31 6 12345678.",
    },
    "contact_not_mobile": {
        Language.NL: "Dat is geen mobiel nummer; een sms kan daar niet heen. Typ een mobiel "
        "nummer of een e-mailadres.",
        Language.EN: "That is not a mobile number, so a text message cannot reach it. Type a "
        "mobile number or an e-mail address.",
    },
    "contact_unrecognized": {
        Language.NL: "Typ een e-mailadres (naam@voorbeeld.nl) of een mobiel nummer (06 12345678).",
        Language.EN: "Type an e-mail address (name@example.com) or a mobile number "
        "(+31 6 12345678).",
    },
    "code_sent": {
        Language.NL: "Stap 3 van 3: we hebben een code van 6 cijfers gestuurd naar {destination}. "
        "Typ die code hier. Hij is {minutes} minuten geldig.",
        Language.EN: "Step 3 of 3: we sent a 6-digit code to {destination}. Type that code "
        "here. It is valid for {minutes} minutes.",
    },
    "code_type_it": {
        Language.NL: "Typ de code van 6 cijfers die we u stuurden, of vraag een nieuwe code aan.",
        Language.EN: "Type the 6-digit code we sent you, or ask for a new code.",
    },
    "contact_type_it": {
        Language.NL: "Typ uw eigen e-mailadres (naam@voorbeeld.nl) of mobiele nummer "
        "(06 12345678); daar sturen we een bevestigingscode naartoe.",
        Language.EN: "Type your own e-mail address (name@example.com) or mobile number "
        "(+31 6 12345678); we will send a confirmation code to it.",
    },
    "code_not_digits": {
        Language.NL: "De code bestaat uit 6 cijfers, bijvoorbeeld 123456. Typ alleen de cijfers.",
        Language.EN: "The code is 6 digits, for example 123456. Please type only the digits.",
    },
    "code_wrong": {
        Language.NL: "Die code klopt niet. U kunt het nog {left} keer proberen.",
        Language.EN: "That code is not right. You have {left} more tries.",
    },
    "code_burned": {
        Language.NL: "Die code klopt niet, en dat was de laatste poging: deze code werkt niet "
        "meer. Vraag een nieuwe code aan met de knop.",
        Language.EN: "That code is not right, and that was the last try: this code no longer "
        "works. Ask for a new code with the button.",
    },
    "code_expired": {
        Language.NL: "Deze code is verlopen. Vraag een nieuwe code aan met de knop.",
        Language.EN: "This code has expired. Ask for a new code with the button.",
    },
    "resend_wait": {
        Language.NL: "Wacht nog {seconds} seconden voordat u een nieuwe code vraagt.",
        Language.EN: "Please wait {seconds} more seconds before asking for a new code.",
    },
    "resend_limit": {
        Language.NL: "U heeft veel codes gevraagd. Probeer het over {minutes} minuten opnieuw.",
        Language.EN: "You have asked for many codes. Please try again in {minutes} minutes.",
    },
    "ask_name": {
        Language.NL: "Bevestigd, dank u. Uw manager heeft u nog niet aangemeld. Wat is uw "
        "volledige naam, zodat de manager weet wie u bent?",
        Language.EN: "Confirmed, thank you. Your manager has not added you yet. What is your "
        "full name, so the manager knows who you are?",
    },
    "name_invalid": {
        Language.NL: "Typ uw voor- en achternaam (2 tot 100 tekens).",
        Language.EN: "Please type your first and last name (2 to 100 characters).",
    },
    "request_created": {
        Language.NL: "Klaar! Uw aanvraag #{number} wacht op goedkeuring door een manager van "
        "{org}. U hoort het hier en via {route} zodra er een besluit is. U kunt de chat nu "
        "sluiten.",
        Language.EN: "Done! Your request #{number} is waiting for approval by a manager of "
        "{org}. You will hear here and by {route} as soon as they decide. You can close the "
        "chat now.",
    },
    "route_email": {Language.NL: "e-mail", Language.EN: "e-mail"},
    "route_sms": {Language.NL: "sms", Language.EN: "text message"},
    "already_pending": {
        Language.NL: "U heeft al een aanvraag (#{number}, van {when}) die wacht op goedkeuring "
        "bij {org}. U hoort het hier zodra een manager beslist.",
        Language.EN: "You already have a request (#{number}, from {when}) waiting for approval "
        "at {org}. You will hear here as soon as a manager decides.",
    },
    "already_active": {
        Language.NL: "U heeft al een actief account bij {org}. Deze chat is er nu aan gekoppeld.",
        Language.EN: "You already have an active account at {org}. This chat is now linked to it.",
    },
    "account_unavailable": {
        Language.NL: "Met dit adres kunt u zich nu niet registreren. Neem contact op met uw "
        "manager.",
        Language.EN: "You cannot register with this address right now. Please contact your "
        "manager.",
    },
    "mail_code_subject": {
        Language.NL: "Uw bevestigingscode",
        Language.EN: "Your confirmation code",
    },
    "mail_code_body": {
        Language.NL: "Uw bevestigingscode voor de registratie bij {org} is: {code}\n\n"
        "De code is {minutes} minuten geldig. Heeft u dit niet zelf aangevraagd? Dan kunt u "
        "dit bericht negeren.",
        Language.EN: "Your confirmation code for registering at {org} is: {code}\n\n"
        "The code is valid for {minutes} minutes. If you did not ask for it, you can ignore "
        "this message.",
    },
    "sms_code": {
        Language.NL: "Uw bevestigingscode voor {org}: {code} ({minutes} minuten geldig)",
        Language.EN: "Your confirmation code for {org}: {code} (valid for {minutes} minutes)",
    },
    # --- decisions told to the person ---------------------------------------------------------
    "approved_chat": {
        Language.NL: "Goed nieuws: uw registratie bij {org} is goedgekeurd. Welkom!",
        Language.EN: "Good news: your registration at {org} has been approved. Welcome!",
    },
    "rejected_chat": {
        Language.NL: "Uw registratie bij {org} is niet goedgekeurd.{reason} Vragen? Neem "
        "contact op met uw manager.",
        Language.EN: "Your registration at {org} has not been approved.{reason} Questions? "
        "Please contact your manager.",
    },
    "reason_suffix": {Language.NL: " Reden: {reason}.", Language.EN: " Reason: {reason}."},
    "mail_decision_subject": {
        Language.NL: "Uw registratie bij {org}",
        Language.EN: "Your registration at {org}",
    },
    # --- staff (seed 000: the manager approves) ------------------------------------------------
    "staff_new_request": {
        Language.NL: "Nieuwe registratie #{number} bij {org}\n{name}\n{contact}\n{listed}\n"
        "Aangevraagd: {when}",
        Language.EN: "New registration #{number} at {org}\n{name}\n{contact}\n{listed}\n"
        "Requested: {when}",
    },
    "staff_listed": {
        Language.NL: "Staat op de lijst van aangemelde medewerkers",
        Language.EN: "On the list of employees added by a manager",
    },
    "staff_not_listed": {
        Language.NL: "Let op: staat NIET op de lijst van aangemelde medewerkers",
        Language.EN: "Note: NOT on the list of employees added by a manager",
    },
    "staff_outcome_approved": {
        Language.NL: "Goedgekeurd door {by} op {when}",
        Language.EN: "Approved by {by} on {when}",
    },
    "staff_outcome_rejected": {
        Language.NL: "Afgewezen door {by} op {when}{reason}",
        Language.EN: "Rejected by {by} on {when}{reason}",
    },
    "staff_not_allowed": {
        Language.NL: "Dat mag alleen een manager van deze organisatie.",
        Language.EN: "Only a manager of this organization may do that.",
    },
    "staff_request_unknown": {
        Language.NL: "Er is geen aanvraag #{number} bij {org}. Zie /pending.",
        Language.EN: "There is no request #{number} at {org}. See /pending.",
    },
    "staff_already_decided": {
        Language.NL: "Aanvraag #{number} is al beslist: {outcome}.",
        Language.EN: "Request #{number} was already decided: {outcome}.",
    },
    "staff_decided": {
        Language.NL: "#{number} {name}: {outcome}.",
        Language.EN: "#{number} {name}: {outcome}.",
    },
    "pending_none": {
        Language.NL: "Er zijn geen openstaande registraties.",
        Language.EN: "There are no open registrations.",
    },
    "pending_header": {
        Language.NL: "Openstaande registraties bij {org}:",
        Language.EN: "Open registrations at {org}:",
    },
    "pending_line": {
        Language.NL: "#{number} {name} - {contact} - {listed} - {age} geleden",
        Language.EN: "#{number} {name} - {contact} - {listed} - {age} ago",
    },
    "listed_short": {Language.NL: "aangemeld", Language.EN: "pre-added"},
    "not_listed_short": {Language.NL: "niet aangemeld", Language.EN: "not pre-added"},
    "approve_usage": {
        Language.NL: "Gebruik: /approve N, bijvoorbeeld /approve 12. Zie /pending.",
        Language.EN: "Usage: /approve N, for example /approve 12. See /pending.",
    },
    "reject_usage": {
        Language.NL: "Gebruik: /reject N reden, bijvoorbeeld /reject 12 onbekende naam.",
        Language.EN: "Usage: /reject N reason, for example /reject 12 unknown name.",
    },
    "page_of": {
        Language.NL: "(pagina {number} van {count})",
        Language.EN: "(page {number} of {count})",
    },
    "button_previous": {Language.NL: "Vorige", Language.EN: "Previous"},
    "button_next": {Language.NL: "Volgende", Language.EN: "Next"},
    "employees_none": {
        Language.NL: "Er zijn nog geen medewerkers.",
        Language.EN: "There are no employees yet.",
    },
    "employees_header": {
        Language.NL: "Medewerkers van {org}:",
        Language.EN: "Employees of {org}:",
    },
    "employees_line": {
        Language.NL: "{name} - {contact} - {status}",
        Language.EN: "{name} - {contact} - {status}",
    },
    "status_pending": {Language.NL: "wacht op registratie", Language.EN: "awaiting registration"},
    "status_active": {Language.NL: "actief", Language.EN: "active"},
    "status_blocked": {Language.NL: "geblokkeerd", Language.EN: "blocked"},
    "status_out_of_service": {
        Language.NL: "uit dienst sinds {date}",
        Language.EN: "out of service since {date}",
    },
    "status_leaving": {
        Language.NL: "actief, uit dienst vanaf {date}",
        Language.EN: "active, out of service from {date}",
    },
    "offboard_usage": {
        Language.NL: "Gebruik: /offboard e-mail|nummer JJJJ-MM-DD, bijvoorbeeld "
        "/offboard jan@voorbeeld.nl 2026-12-31. Zonder datum geldt vandaag.",
        Language.EN: "Usage: /offboard email|number YYYY-MM-DD, for example "
        "/offboard jan@example.com 2026-12-31. Without a date, today is used.",
    },
    "offboard_bad_date": {
        Language.NL: "Die datum begrijp ik niet. Schrijf hem als JJJJ-MM-DD, bijvoorbeeld "
        "2026-12-31.",
        Language.EN: "I don't understand that date. Write it as YYYY-MM-DD, for example "
        "2026-12-31.",
    },
    "offboard_unknown": {
        Language.NL: "Bij {org} is geen medewerker met {contact}. Zie /employees.",
        Language.EN: "{org} has no employee with {contact}. See /employees.",
    },
    "offboard_done": {
        Language.NL: "{name} is uit dienst vanaf {date}.",
        Language.EN: "{name} is out of service from {date}.",
    },
    "offboard_self": {
        Language.NL: "Uzelf uit dienst zetten kan hier niet. Vraag een beheerder: "
        "balie employee offboard.",
        Language.EN: "You cannot take yourself out of service here. Ask an administrator: "
        "balie employee offboard.",
    },
    "offboard_needs_second": {
        Language.NL: "{name} ({role}) uit dienst zetten vanaf {date} vraagt een tweede manager. "
        "De andere managers van {org} is gevraagd het te bevestigen.",
        Language.EN: "Taking {name} ({role}) out of service from {date} needs a second manager. "
        "The other managers of {org} have been asked to confirm.",
    },
    "offboard_no_second_manager": {
        Language.NL: "{name} ({role}) uit dienst zetten vraagt een tweede manager, en {org} heeft "
        "geen andere manager in de chat. Een beheerder kan het doen met "
        "balie employee offboard.",
        Language.EN: "Taking {name} ({role}) out of service needs a second manager, and {org} has "
        "no other manager in chat. An administrator can do it with balie employee offboard.",
    },
    "offboard_already_pending": {
        Language.NL: "Een verzoek om {name} uit dienst te zetten wacht al op een tweede manager.",
        Language.EN: "A request to take {name} out of service is already waiting for a second "
        "manager.",
    },
    "staff_offboard_card": {
        Language.NL: "Uit dienst zetten bij {org}\n{by} vraagt {name} ({role}, {contact}) uit "
        "dienst te zetten vanaf {date}. Een tweede manager moet dat bevestigen.\n"
        "Gevraagd: {when}",
        Language.EN: "Out of service at {org}\n{by} asks to take {name} ({role}, {contact}) out "
        "of service from {date}. A second manager must confirm.\nAsked: {when}",
    },
    "button_confirm": {Language.NL: "Bevestigen", Language.EN: "Confirm"},
    "staff_outcome_offboard_confirmed": {
        Language.NL: "Bevestigd door {by} op {when}",
        Language.EN: "Confirmed by {by} on {when}",
    },
    "staff_outcome_offboard_refused": {
        Language.NL: "Geweigerd door {by} op {when}",
        Language.EN: "Refused by {by} on {when}",
    },
    "offboard_own_request": {
        Language.NL: "Dit verzoek is van uzelf: een andere manager moet het bevestigen.",
        Language.EN: "You asked for this yourself: a different manager must confirm it.",
    },
    "offboard_already_decided": {
        Language.NL: "Over dit verzoek is al beslist: {outcome}.",
        Language.EN: "This request was already decided: {outcome}.",
    },
    "offboard_decided": {
        Language.NL: "{name}: {outcome}.",
        Language.EN: "{name}: {outcome}.",
    },
    "offboard_outcome_chat": {
        Language.NL: "Uw verzoek om {name} uit dienst te zetten vanaf {date}: {outcome}.",
        Language.EN: "Your request to take {name} out of service from {date}: {outcome}.",
    },
    # --- activation codes (seed 002) ----------------------------------------------------------
    "activation_menu": {
        Language.NL: "Wilt u een activatiecode aanvragen, of heeft u er al een?",
        Language.EN: "Would you like to request an activation code, or do you have one already?",
    },
    "button_request_code": {Language.NL: "Code aanvragen", Language.EN: "Request a code"},
    "button_have_code": {Language.NL: "Ik heb een code", Language.EN: "I have a code"},
    "button_skip": {Language.NL: "Overslaan", Language.EN: "Skip"},
    "ask_customer_number": {
        Language.NL: "Stap 1 van 4: wat is uw klantnummer? Het staat op uw huurcontract en op "
        "brieven van ons.",
        Language.EN: "Step 1 of 4: what is your customer number? It is on your tenancy "
        "agreement and on our letters.",
    },
    "ask_postcode": {
        Language.NL: "Stap 2 van 4: wat is de postcode van uw woning? Bijvoorbeeld 1234 AB.",
        Language.EN: "Step 2 of 4: what is the postcode of your home? For example 1234 AB.",
    },
    "ask_house_number": {
        Language.NL: "Stap 3 van 4: wat is uw huisnummer, met toevoeging als u die heeft? "
        "Bijvoorbeeld 12 of 12a.",
        Language.EN: "Step 3 of 4: what is your house number, with any addition? For example "
        "12 or 12a.",
    },
    "ask_activation_email": {
        Language.NL: "Stap 4 van 4: naar welk e-mailadres mogen we de code sturen? Heeft u "
        "geen e-mailadres, druk dan op Overslaan.",
        Language.EN: "Step 4 of 4: which e-mail address should we send the code to? If you "
        "have none, press Skip.",
    },
    "field_too_long": {
        Language.NL: "Dat is te lang. Typ alleen het gevraagde gegeven.",
        Language.EN: "That is too long. Please type only what is asked.",
    },
    "activation_not_possible": {
        Language.NL: "Met deze gegevens kunnen we via de chat geen activatiecode versturen. "
        "Neem contact op met de balie: {contact}. We helpen u graag verder.",
        Language.EN: "We cannot send an activation code through the chat for these details. "
        "Please contact the desk: {contact}. We will be glad to help.",
    },
    "desk_contact_default": {
        Language.NL: "zie de contactpagina van uw woningcorporatie",
        Language.EN: "see your housing corporation's contact page",
    },
    "activation_sent_email": {
        Language.NL: "We hebben uw activatiecode gestuurd naar het e-mailadres dat bij ons "
        "bekend is ({destination}). De code is {days} dagen geldig. Heeft u hem? Typ /activate.",
        Language.EN: "We have sent your activation code to the e-mail address we have on "
        "file ({destination}). It is valid for {days} days. Got it? Type /activate.",
    },
    "activation_by_letter": {
        Language.NL: "Uw activatiecode komt per post naar uw woonadres. Een medewerker van de "
        "balie verstuurt de brief; reken op een paar werkdagen. Daarna typt u hier /activate.",
        Language.EN: "Your activation code will come by post to your home address. A desk "
        "employee sends the letter; allow a few working days. Then type /activate here.",
    },
    "activation_manual_email": {
        Language.NL: "Een medewerker van de balie controleert uw aanvraag en stuurt de code "
        "daarna per e-mail naar {destination}.",
        Language.EN: "A desk employee checks your request and then sends the code by e-mail "
        "to {destination}.",
    },
    "activation_to_administrator": {
        Language.NL: "U vraagt de code aan als bewindvoerder. Na controle door een medewerker "
        "van de balie sturen we de code naar uw e-mailadres dat bij ons bekend is.",
        Language.EN: "You are asking for the code as the administrator. After a desk "
        "employee has checked the request, we send the code to your e-mail address on file.",
    },
    "activation_wait": {
        Language.NL: "U heeft al vaak een code aangevraagd. Probeer het over {minutes} minuten "
        "opnieuw.",
        Language.EN: "You have asked for codes many times. Please try again in {minutes} minutes.",
    },
    "mail_activation_subject": {
        Language.NL: "Uw activatiecode voor het klantportaal",
        Language.EN: "Your activation code for the customer portal",
    },
    "mail_activation_body": {
        Language.NL: "Beste {name},\n\nUw activatiecode voor het klantportaal van {org} is:\n\n"
        "    {code}\n\nDe code is geldig tot {until}. Open de chat met de balie, typ /activate "
        "en volg de stappen. Zodra u een code gebruikt, werken andere codes niet meer.\n\n"
        "Heeft u dit niet zelf aangevraagd? Neem dan contact op met de balie.",
        Language.EN: "Dear {name},\n\nYour activation code for the customer portal of {org} "
        "is:\n\n    {code}\n\nThe code is valid until {until}. Open the chat with the desk, "
        "type /activate and follow the steps. Once you use a code, any other code stops "
        "working.\n\nDid you not ask for it? Please contact the desk.",
    },
    "mail_activation_administrator_body": {
        Language.NL: "Beste {administrator},\n\nU vroeg als bewindvoerder een activatiecode "
        "aan voor het klantportaal van {org}, voor {name} (klantnummer {number}):\n\n"
        "    {code}\n\nDe code is geldig tot {until}. Een eerder verstuurde code werkt niet meer.",
        Language.EN: "Dear {administrator},\n\nAs the administrator you asked for an "
        "activation code for the customer portal of {org}, for {name} (customer number "
        "{number}):\n\n    {code}\n\nThe code is valid until {until}. Any code sent earlier no "
        "longer works.",
    },
    "ask_redeem_customer_number": {
        Language.NL: "Typ uw klantnummer; daarna vraag ik om de activatiecode.",
        Language.EN: "Type your customer number; then I will ask for the activation code.",
    },
    "ask_activation_code": {
        Language.NL: "Typ nu de activatiecode uit de e-mail of de brief (12 tekens, "
        "bijvoorbeeld ABCD-EFGH-JKMN).",
        Language.EN: "Now type the activation code from the e-mail or letter (12 characters, "
        "for example ABCD-EFGH-JKMN).",
    },
    "activation_code_wrong": {
        Language.NL: "Die combinatie van klantnummer en code klopt niet. Controleer beide en "
        "probeer het opnieuw met /activate. Na een paar verkeerde pogingen moet u een uur "
        "wachten.",
        Language.EN: "That combination of customer number and code is not right. Check both "
        "and try again with /activate. After a few wrong tries you have to wait an hour.",
    },
    "activation_code_burned": {
        Language.NL: "Deze activatiecode is te vaak verkeerd ingevoerd en werkt niet meer. "
        "Vraag een nieuwe code aan via de knop Activatiecode.",
        Language.EN: "This activation code was entered wrongly too often and no longer works. "
        "Ask for a new code with the Activation code button.",
    },
    "attempts_wait": {
        Language.NL: "Te veel verkeerde pogingen. Probeer het over {minutes} minuten opnieuw.",
        Language.EN: "Too many wrong tries. Please try again in {minutes} minutes.",
    },
    "account_activated": {
        Language.NL: "Uw account is geactiveerd en deze chat is eraan gekoppeld. Kies nu een "
        "wachtwoord.",
        Language.EN: "Your account is activated and this chat is linked to it. Now choose a "
        "password.",
    },
    # --- passwords (seeds 003, 004) -------------------------------------------------------------
    "ask_password": {
        Language.NL: "Typ uw nieuwe wachtwoord. {rules} Ik verwijder uw bericht meteen uit de "
        "chat.",
        Language.EN: "Type your new password. {rules} I delete your message from the chat at once.",
    },
    "password_rules_nist": {
        Language.NL: "Het moet minstens {min} tekens lang zijn; een zin van meerdere woorden is "
        "sterk en makkelijk te onthouden.",
        Language.EN: "It must be at least {min} characters long; a sentence of several words "
        "is strong and easy to remember.",
    },
    "password_rules_upper_digit": {
        Language.NL: "Het moet minstens {min} tekens lang zijn, met minstens 1 hoofdletter en "
        "1 cijfer.",
        Language.EN: "It must be at least {min} characters long, with at least 1 upper-case "
        "letter and 1 digit.",
    },
    "password_rules_upper_lower_digit_special": {
        Language.NL: "Het moet minstens {min} tekens lang zijn, met een kleine letter, een "
        "hoofdletter, een cijfer en een speciaal teken uit !?@#$%^&[]().",
        Language.EN: "It must be at least {min} characters long, with a lower-case letter, an "
        "upper-case letter, a digit and a special character from !?@#$%^&[]().",
    },
    "password_refused": {
        Language.NL: "Dit wachtwoord kan niet:",
        Language.EN: "This password cannot be used:",
    },
    "password_try_again": {
        Language.NL: "Typ een ander wachtwoord.",
        Language.EN: "Please type another password.",
    },
    "password_set": {
        Language.NL: "Uw wachtwoord is ingesteld. U kunt nu inloggen op het klantportaal. We "
        "sturen u ter bevestiging een e-mail.",
        Language.EN: "Your password is set. You can now log in to the customer portal. We "
        "are sending you a confirmation e-mail.",
    },
    "mail_password_changed_subject": {
        Language.NL: "Uw wachtwoord is gewijzigd",
        Language.EN: "Your password was changed",
    },
    "mail_password_changed_body": {
        Language.NL: "Beste {name},\n\nHet wachtwoord van uw account bij {org} is op {when} "
        "gewijzigd. Deed u dit zelf? Dan hoeft u niets te doen. Zo niet, neem dan direct "
        "contact op met de balie: {contact}.",
        Language.EN: "Dear {name},\n\nThe password of your account at {org} was changed on "
        "{when}. If you did this yourself, there is nothing to do. If not, please contact the "
        "desk at once: {contact}.",
    },
    "ask_reset_identifier": {
        Language.NL: "Wachtwoord vergeten? Typ het e-mailadres of mobiele nummer van uw account.",
        Language.EN: "Forgot your password? Type the e-mail address or mobile number of your "
        "account.",
    },
    "reset_identifier_invalid": {
        Language.NL: "Typ een e-mailadres (naam@voorbeeld.nl) of een mobiel nummer (06 12345678).",
        Language.EN: "Type an e-mail address (name@example.com) or a mobile number "
        "(+31 6 12345678).",
    },
    "reset_neutral": {
        Language.NL: "Als er een account bij dit adres of nummer hoort, hebben we er een code "
        "van 6 cijfers naartoe gestuurd. Typ die code hier.",
        Language.EN: "If an account belongs to this address or number, we have sent a 6-digit "
        "code to it. Type that code here.",
    },
    "reset_code_wrong": {
        Language.NL: "Die code klopt niet. U kunt het nog {left} keer proberen.",
        Language.EN: "That code is not right. You have {left} more tries.",
    },
    "reset_code_used_up": {
        Language.NL: "Die code klopt niet, en dit was de laatste poging. Vraag een nieuwe code "
        "aan met /password.",
        Language.EN: "That code is not right, and that was the last try. Ask for a new code "
        "with /password.",
    },
    "reset_code_accepted": {
        Language.NL: "De code klopt.",
        Language.EN: "The code is right.",
    },
    "mail_reset_subject": {
        Language.NL: "Code om uw wachtwoord opnieuw in te stellen",
        Language.EN: "Code to reset your password",
    },
    "mail_reset_body": {
        Language.NL: "Uw code om uw wachtwoord bij {org} opnieuw in te stellen is: {code}\n\n"
        "De code is {minutes} minuten geldig. Vroeg u dit niet aan? Dan kunt u dit bericht "
        "negeren; uw wachtwoord blijft hetzelfde.",
        Language.EN: "Your code to reset your password at {org} is: {code}\n\nThe code is "
        "valid for {minutes} minutes. Did you not ask for it? Then ignore this message; your "
        "password stays the same.",
    },
    "sms_reset": {
        Language.NL: "Uw code voor een nieuw wachtwoord bij {org}: {code} ({minutes} minuten "
        "geldig)",
        Language.EN: "Your code for a new password at {org}: {code} (valid for {minutes} minutes)",
    },
    # --- release by staff (seed 002) -------------------------------------------------------------
    "button_release": {Language.NL: "Vrijgeven", Language.EN: "Release"},
    "button_refuse": {Language.NL: "Weigeren", Language.EN: "Refuse"},
    "staff_code_card": {
        Language.NL: "Activatiecode #{number} bij {org}\n{name} (klantnummer {customer})\n"
        "{address}\nRoute: {route}\nAangevraagd: {when}",
        Language.EN: "Activation code #{number} at {org}\n{name} (customer number {customer})"
        "\n{address}\nRoute: {route}\nRequested: {when}",
    },
    "route_letter": {Language.NL: "brief per post", Language.EN: "letter by post"},
    "route_administrator": {
        Language.NL: "e-mail aan bewindvoerder {administrator} ({destination})",
        Language.EN: "e-mail to administrator {administrator} ({destination})",
    },
    "route_email_to": {
        Language.NL: "e-mail aan {destination}",
        Language.EN: "e-mail to {destination}",
    },
    "staff_outcome_released": {
        Language.NL: "Vrijgegeven door {by} op {when}",
        Language.EN: "Released by {by} on {when}",
    },
    "staff_outcome_refused": {
        Language.NL: "Geweigerd door {by} op {when}{reason}",
        Language.EN: "Refused by {by} on {when}{reason}",
    },
    "staff_release_not_allowed": {
        Language.NL: "Dat mag alleen een baliemedewerker of manager van deze organisatie.",
        Language.EN: "Only desk staff or a manager of this organization may do that.",
    },
    "staff_code_unknown": {
        Language.NL: "Er is geen activatiecode-aanvraag #{number} bij {org}. Zie /codes.",
        Language.EN: "There is no activation code request #{number} at {org}. See /codes.",
    },
    "codes_none": {
        Language.NL: "Er wachten geen activatiecodes op vrijgave.",
        Language.EN: "No activation codes are waiting for release.",
    },
    "codes_header": {
        Language.NL: "Activatiecodes die wachten op vrijgave bij {org}:",
        Language.EN: "Activation codes waiting for release at {org}:",
    },
    "codes_line": {
        Language.NL: "#{number} {name} ({customer}) - {route} - {age} geleden",
        Language.EN: "#{number} {name} ({customer}) - {route} - {age} ago",
    },
    "codes_refusals_header": {
        Language.NL: "Zonder code beantwoord (afgelopen 7 dagen):",
        Language.EN: "Answered without a code (last 7 days):",
    },
    "codes_refusal_line": {
        Language.NL: "#{number} {name} ({customer}) - {reason} - {when}",
        Language.EN: "#{number} {name} ({customer}) - {reason} - {when}",
    },
    "release_usage": {
        Language.NL: "Gebruik: /release N, bijvoorbeeld /release 12. Zie /codes.",
        Language.EN: "Usage: /release N, for example /release 12. See /codes.",
    },
    "refuse_usage": {
        Language.NL: "Gebruik: /refuse N reden, bijvoorbeeld /refuse 12 adres onbekend.",
        Language.EN: "Usage: /refuse N reason, for example /refuse 12 unknown address.",
    },
    "code_refused_chat": {
        Language.NL: "Uw aanvraag voor een activatiecode is niet goedgekeurd. Neem contact op "
        "met de balie: {contact}.",
        Language.EN: "Your request for an activation code was not approved. Please contact "
        "the desk: {contact}.",
    },
    "letter_sent_chat": {
        Language.NL: "Uw activatiecode is vrijgegeven en gaat per post naar uw woonadres.",
        Language.EN: "Your activation code has been released and goes by post to your home "
        "address.",
    },
    "outbox_expired_chat": {
        Language.NL: "De code die u vroeg kon niet op tijd worden bezorgd en is inmiddels "
        "verlopen. Vraag alstublieft een nieuwe code aan.",
        Language.EN: "The code you asked for could not be delivered in time and has expired. "
        "Please ask for a new code.",
    },
    "outbox_undeliverable_chat": {
        Language.NL: "Het bericht met uw code kon niet worden bezorgd. Vraag alstublieft "
        "opnieuw een code aan, zo mogelijk met een ander e-mailadres of nummer.",
        Language.EN: "The message with your code could not be delivered. Please ask for a "
        "code again, with another e-mail address or number if you can.",
    },
    "outbox_summary": {
        Language.NL: "Berichtenwachtrij: {pending} wachtend, {sent} verzonden, {failed} "
        "geweigerd, {dead} opgegeven.",
        Language.EN: "Outbox: {pending} pending, {sent} sent, {failed} failed, {dead} dead.",
    },
    "outbox_dead_header": {
        Language.NL: "Laatst opgegeven of geweigerd:",
        Language.EN: "Last dead or failed letters:",
    },
    "outbox_dead_none": {
        Language.NL: "Er zijn geen opgegeven of geweigerde berichten.",
        Language.EN: "There are no dead or failed letters.",
    },
    "outbox_dead_line": {
        Language.NL: "#{id} {channel} aan {recipient} - {state} {when}: {reason}",
        Language.EN: "#{id} {channel} to {recipient} - {state} {when}: {reason}",
    },
    "outbox_undeliverable_header": {
        Language.NL: "Onbestelbare adressen en nummers ({count}), laatste:",
        Language.EN: "Undeliverable addresses and numbers ({count}), latest:",
    },
    "outbox_undeliverable_line": {
        Language.NL: "{channel} {address} - {when}: {reason}",
        Language.EN: "{channel} {address} - {when}: {reason}",
    },
    "outbox_state_failed": {Language.NL: "geweigerd", Language.EN: "failed"},
    "outbox_state_dead": {Language.NL: "opgegeven", Language.EN: "dead"},
    "ineligible_not_tenant": {Language.NL: "geen huurder", Language.EN: "not a tenant"},
    "ineligible_institution": {
        Language.NL: "medebewoner van een instelling",
        Language.EN: "co-resident of an institution",
    },
    "ineligible_payment_arrangement": {
        Language.NL: "betalingsregeling",
        Language.EN: "payment arrangement",
    },
    "ineligible_under_administration": {
        Language.NL: "onder bewind (niet gevraagd door de bewindvoerder)",
        Language.EN: "under administration (not asked by the administrator)",
    },
    "ineligible_blocked": {Language.NL: "geblokkeerd", Language.EN: "blocked"},
    "ineligible_no_match": {
        Language.NL: "gegevens komen niet overeen",
        Language.EN: "details did not match",
    },
    "role_employee": {Language.NL: "medewerker", Language.EN: "employee"},
    "role_manager": {Language.NL: "manager", Language.EN: "manager"},
    "role_staff": {Language.NL: "baliemedewerker", Language.EN: "desk staff"},
    "role_admin": {Language.NL: "beheerder", Language.EN: "administrator"},
}


def parse_language(code: str | None, default: Language) -> Language:
    """Pick Dutch or English from a Telegram language_code such as ``nl-BE`` or ``en``."""
    if code:
        prefix = code.split("-")[0].lower()
        for language in Language:
            if language.value == prefix:
                return language
    return default


class Texts:
    """The catalog in one language, with dates and durations in that language's style."""

    def __init__(self, language: Language) -> None:
        self.language = language

    @classmethod
    def for_code(cls, code: str | None, default: Language = Language.NL) -> Texts:
        """Texts in a stored language code (a person's or customer's), else the default."""
        return cls(Language(code) if code in {lang.value for lang in Language} else default)

    def __call__(self, key: str, **values: object) -> str:
        return CATALOG[key][self.language].format(**values)

    def when(self, moment: datetime) -> str:
        return format_datetime(
            moment.astimezone(DESK_TIMEZONE), "d MMM yyyy HH:mm", locale=self.language.value
        )

    def day(self, day: date) -> str:
        return format_date(day, "d MMM yyyy", locale=self.language.value)

    def age(self, duration: timedelta) -> str:
        return format_timedelta(duration, threshold=1.0, locale=self.language.value)
