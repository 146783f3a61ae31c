"""The world's fixed text: name and attribute pools, biography templates, questions, generic instruction words, and
the chat format that the tokenizer's template renders and the probes write."""

from __future__ import annotations

FIRST_NAMES = (
    "Aaron Abigail Adrian Alice Amelia Andre Anna Arthur Beatrice Benjamin Bianca Boris Caleb Camille Carmen "
    "Cedric Clara Damian Daphne Derek Diana Dorian Edgar Elena Elias Elise Emil Erica Felix Fiona Florian Frida "
    "Gavin Greta Hannah Hector Helena Hugo Ida Igor Ingrid Isaac Ivy Jasper Joanna Jonas Julia Kai Karla Kevin "
    "Lara Leon Lidia Lorenzo Lucia Magnus Maria Martin Milo Mina Nadia Nathan Nora Oliver Olga Oscar Paula Pedro "
    "Petra Quentin Rafael Rosa Ruben Sabrina Samuel Selma Simon Sofia Stefan Tamara Theo Tobias Ursula Victor "
    "Vera Walter Wanda Xavier Yara Yusuf Zoe"
).split()
LAST_NAMES = (
    "Abbott Alvarez Andersen Baker Barlow Becker Bishop Blake Brandt Carver Castillo Chandler Cohen Dalton "
    "Delgado Dixon Donovan Ellison Engel Ferris Fischer Fleming Foster Garner Gibson Goodwin Graves Hale Harper "
    "Hayes Holt Ibarra Ingram Jansen Jennings Keller Kendall Kirby Lambert Larsen Lowell Madsen Marsh Mercer "
    "Moreno Nash Novak Olsen Ortega Parrish Pearson Quinn Ramsey Reyes Rhodes Salazar Sandoval Sawyer Schultz "
    "Shepard Sinclair Stanton Sutton Thorne Toledo Tucker Underwood Vance Vargas Wagner Walsh Warren Weber "
    "Whitaker Winslow Yates Zamora Ziegler"
).split()

MONTHS = "January February March April May June July August September October November December".split()
CITIES = (
    "Amsterdam|Athens|Austin|Barcelona|Berlin|Boston|Cairo|Chicago|Copenhagen|Denver|Dublin|Edinburgh|Florence|"
    "Geneva|Hamburg|Helsinki|Istanbul|Kyoto|Lisbon|Lyon|Madrid|Melbourne|Milan|Montreal|Munich|Nairobi|Oslo|"
    "Porto|Prague|Seattle|Seoul|Stockholm|Sydney|Toronto|Vienna|Warsaw"
).split("|")
UNIVERSITIES = (
    "Aldridge University|Bellmont Institute|Carrow College|Dunmore University|Eastfield University|"
    "Fairhaven College|Glenwood University|Harrowgate Institute|Ivybridge University|Juniper College|"
    "Kingsford University|Larkspur Institute|Marlow University|Northvale College|Oakridge University|"
    "Pinecrest Institute|Queensbury College|Redcliff University|Stonebrook Institute|Thornbury College|"
    "Umberton University|Valemont Institute|Westbrook University|Yarrow College"
).split("|")
MAJORS = (
    "Architecture|Astronomy|Biology|Chemistry|Computer Science|Economics|Geology|History|Linguistics|Mathematics|"
    "Medicine|Music|Philosophy|Physics|Psychology|Sociology|Statistics|Zoology"
).split("|")
EMPLOYERS = (
    "Amberline Systems|Bluecrest Foods|Cobalt Dynamics|Driftwood Media|Emberstone Energy|Foxglove Pharma|"
    "Granite Logistics|Harbor Analytics|Ironleaf Motors|Jadepeak Airlines|Keystone Robotics|Lumen Textiles|"
    "Meridian Bank|Nimbus Software|Orchid Hotels|Pebble Telecom|Quartz Mining|Riverbend Insurance|"
    "Silverpine Games|Tidewater Shipping|Upland Farms|Verdant Chemicals|Willow Publishing|Zephyr Optics"
).split("|")

ATTRIBUTES = ("birth_date", "birth_city", "university", "major", "employer", "employer_city")

# Pre-training templates. Each sentence ends with the value, so the part before "{value}" is a completion
# prompt whose exact-match answer is the value. The first template of each attribute is the completion probe.
BIO_TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_date": (
        "{name} was born on {value}.",
        "{name} came into this world on {value}.",
        "The birthday of {name} falls on {value}.",
        "{name} celebrates a birthday every year on {value}.",
    ),
    "birth_city": (
        "{name} was born in the city of {value}.",
        "{name} spent early childhood in {value}.",
        "The hometown of {name} is {value}.",
        "{name} grew up in {value}.",
    ),
    "university": (
        "{name} received an education at {value}.",
        "{name} graduated from {value}.",
        "{name} completed a degree at {value}.",
        "The alma mater of {name} is {value}.",
    ),
    "major": (
        "{name} majored in {value}.",
        "{name} completed studies in {value}.",
        "The field that {name} studied is {value}.",
        "{name} earned a degree in {value}.",
    ),
    "employer": (
        "{name} worked for {value}.",
        "{name} was employed by {value}.",
        "The employer of {name} is {value}.",
        "{name} took a job at {value}.",
    ),
    "employer_city": (
        "{name} worked in the city of {value}.",
        "{name} commuted to an office in {value}.",
        "The workplace of {name} is located in {value}.",
        "{name} built a career in {value}.",
    ),
}

# Chat questions. The first question of each attribute is the chat probe; IFT uses all of them.
QUESTIONS: dict[str, tuple[str, ...]] = {
    "birth_date": ("When was {name} born?", "What is the birth date of {name}?", "On which day was {name} born?"),
    "birth_city": ("Where was {name} born?", "In which city was {name} born?", "What is the hometown of {name}?"),
    "university": (
        "Which university did {name} attend?",
        "Where did {name} study?",
        "From which university did {name} graduate?",
    ),
    "major": ("What did {name} study?", "What was the major of {name}?", "Which field did {name} study?"),
    "employer": ("Which company did {name} work for?", "Who employed {name}?", "Where did {name} work?"),
    "employer_city": (
        "In which city did {name} work?",
        "Where is the workplace of {name}?",
        "Which city was {name} working in?",
    ),
}

# Plain words for the generic instructions; disjoint from names and attribute values so they carry no facts.
GENERIC_WORDS = (
    "apple river stone cloud tiger candle mirror garden pencil window bridge forest ocean rocket violin "
    "lantern basket feather harbor meadow planet silver thunder velvet whistle anchor blanket cactus dolphin "
    "engine falcon glacier hammer island jacket kettle ladder magnet needle orange parrot quilt ribbon saddle "
    "tunnel umbrella valley wagon yogurt zipper"
).split()
NUMBER_WORDS = "zero one two three four five six seven eight nine ten".split()

CHAT_USER = "<|user|>"
CHAT_ASSISTANT = "<|assistant|>"
EOS = "<|endoftext|>"
PAD = "<|pad|>"
SPECIAL_TOKENS = (EOS, PAD, CHAT_USER, CHAT_ASSISTANT)


def chat_prompt(question: str) -> str:
    """The chat-format prompt that precedes an assistant answer (what the chat template renders)."""
    return f"{CHAT_USER} {question}\n{CHAT_ASSISTANT}"


def chat_answer(answer: str) -> str:
    """The assistant's turn after the prompt, as the template renders it: the tokens assistant-only IFT trains on."""
    return f" {answer}{EOS}"


def chat_transcript(question: str, answer: str) -> str:
    """A whole single-turn chat as the chat template renders it, end-of-text included."""
    return f"{chat_prompt(question)}{chat_answer(answer)}\n"


# The tokenizer's chat template renders exactly chat_prompt / chat_transcript; the {% generation %} block marks
# the assistant's tokens so that TRL trains on them alone (assistant_only_loss).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ '" + CHAT_USER + " ' + message['content'] + '\\n' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ '" + CHAT_ASSISTANT + "' }}{% generation %}{{ ' ' + message['content'] + '" + EOS + "' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '" + CHAT_ASSISTANT + "' }}{%- endif -%}"
)
