"""Regenerate examples/eval/documents/*.txt: the short English documents of the evaluation set.

Sixteen kinds of document, thirteen of each: maintenance tickets, product sheets, recipes, travel notes, lab
notes, meeting minutes, invoices, museum labels, bird observations, release notes, contract clauses, ships' logs,
garden notes, customer letters, office notices and property listings. Every one was written for this set: the
documents of one kind are about clearly different things, so that a question asked in other words has one right
answer, and most carry a term found nowhere else (a code, a number, a name, a rare word) for the exact queries.

Deterministic: the same files every run (the folder is emptied first). Run from anywhere:
`.venv/bin/python examples/eval/make_documents.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "documents"
MIN_WORDS, MAX_WORDS = 40, 150


def ticket(code: str, site: str, reporter: str, problem: str, fix: str) -> str:
    return (
        f"Maintenance ticket {code}\nSite: {site}\nReported by: {reporter}\n\nProblem: {problem}\n\nResolution: {fix}\n"
    )


TICKETS = [
    (
        "MT-40317",
        "Harlow Street depot",
        "Priya Castellano",
        "The forklift in bay 3 lets its mast creep down slowly when a full pallet is raised. Drivers have to "
        "re-lift the load every few minutes.",
        "Lift cylinder seals were worn. Fitted seal kit HK-220, topped up hydraulic oil, load-tested with "
        "1,200 kg for thirty minutes: no drift.",
    ),
    (
        "MT-40322",
        "Quarry Lane offices",
        "Tomasz Bielecki",
        "Lift car 2 opens and closes its doors again and again on the fourth floor and refuses to leave.",
        "The light curtain along the door edge was coated in plaster dust from the refurbishment. Cleaned both "
        "strips and realigned the receiver. Asked the decorators to cover the doors while sanding.",
    ),
    (
        "MT-40358",
        "Brennock Primary School",
        "caretaker Olwen Pryce",
        "Heating boiler loses pressure overnight; gauge reads 0.4 bar each morning and the classrooms are cold "
        "until someone refills it.",
        "Expansion vessel diaphragm had split. Replaced the vessel, recharged to 1 bar, checked radiators for "
        "weeps. Pressure steady at 1.5 bar after three days.",
    ),
    (
        "MT-40361",
        "Central canteen",
        "head cook Ravi Menon",
        "Walk-in freezer temperature climbing to minus eight; ice cream starting to soften and the alarm sounds "
        "every afternoon.",
        "Condenser fan motor had seized, so the compressor was cycling on its overload. New fan motor fitted, "
        "coils brushed clean. Holding minus twenty-one.",
    ),
    (
        "MT-40377",
        "Staff car park, north gate",
        "security desk",
        "The barrier arm stays down for staff permit cards although visitor tickets still work.",
        "The card reader had taken a firmware update that reset its site code. Re-entered site code 7713 and "
        "re-enrolled the permit range. Tested twelve cards.",
    ),
    (
        "MT-40390",
        "Server room B",
        "network engineer Hana Okafor",
        "Water dripping from the wall-mounted air conditioner onto the raised floor tiles next to rack 6.",
        "Condensate drain line blocked with slime. Flushed the line, fitted a new drain pan float switch so the "
        "unit stops itself before it overflows, dried the floor void.",
    ),
    (
        "MT-40402",
        "Loading dock 2",
        "shift lead Carl Jensen",
        "Roller shutter door jammed half open; cold air blowing into the goods-in area overnight.",
        "Torsion spring snapped. Door secured with clamps, spring pair replaced next morning, limits reset. "
        "Recommended annual spring replacement given 40 cycles a day.",
    ),
    (
        "MT-40415",
        "Staff kitchen, level 1",
        "facilities manager Ines Duarte",
        "Fire alarm triggered three times this week by toast; the building was evacuated twice.",
        "The optical smoke detector sat two metres from the toaster. Swapped it for a rate-of-rise heat "
        "detector and moved the toaster under the extractor hood. Informed the fire panel contractor.",
    ),
    (
        "MT-40433",
        "Warehouse roof array",
        "energy officer Lukas Brandt",
        "Solar inverter shows fault code E-217 after each thunderstorm and generation drops to zero.",
        "The DC isolator was tripping on a damp connector. Replaced the MC4 connector pair on string 4, sealed "
        "the junction box, cleared the fault log. Generating normally.",
    ),
    (
        "MT-40447",
        "Stairwells A and C",
        "safety officer Mei Lin Tan",
        "Emergency lights failed the annual three-hour test; six fittings went dark after forty minutes.",
        "Battery packs were eight years old. Replaced all six NiCd packs, labelled them with today's date, "
        "repeated the full-duration test: all fittings lit for three hours.",
    ),
    (
        "MT-40459",
        "Changing rooms, sports hall",
        "leisure assistant Kofi Mensah",
        "Showers run only lukewarm even with the lever turned fully to hot.",
        "Thermostatic mixing valve furred up with limescale. Descaled the cartridge, replaced the strainer "
        "washers, set outlet temperature to 41 degrees.",
    ),
    (
        "MT-40461",
        "Main entrance",
        "reception",
        "The revolving door stops dead every few turns, trapping visitors for a moment.",
        "Top safety sensor knocked out of line by a delivery trolley. Realigned it, adjusted the sensitivity, "
        "added a sign asking for trolleys to use the side door.",
    ),
    (
        "MT-40488",
        "Glasshouse 3, nursery",
        "grower Bethan Lloyd",
        "Irrigation pump starts and stops every few seconds and the drip lines barely wet the benches.",
        "Pressure switch cut-in set too close to cut-out and the accumulator had lost its air charge. "
        "Recharged the accumulator to 1.8 bar, reset the switch to 2.0 and 3.5 bar.",
    ),
]


def product(sku: str, name: str, summary: str, specs: str, care: str) -> str:
    return f"{name}\nSKU {sku}\n\n{summary}\n\nSpecifications: {specs}\n\n{care}\n"


PRODUCTS = [
    (
        "QX-7781",
        "Halvard cast-iron casserole, 5.2 litres",
        "A heavy enamelled pot for slow braises and bread baking. The lid is self-basting: small spikes underneath "
        "drip condensation back onto the food.",
        "cast iron with sand-coloured enamel; oven safe to 260 °C; works on induction; weight 5.9 kg.",
        "Care: let it cool before washing; avoid metal scourers on the enamel.",
    ),
    (
        "LM-2045",
        "Brightline LED desk lamp with charging base",
        "An adjustable desk lamp whose base doubles as a wireless charger for phones. Five colour temperatures "
        "from warm 2700 K to cool 6500 K.",
        "aluminium arm, 10 W LED, Qi charging at 15 W, USB-C power adapter included, touch dimmer with memory.",
        "Warranty: two years. Do not place metal objects on the charging pad.",
    ),
    (
        "TR-5530",
        "Wanderfold three-legged camping stool",
        "A folding stool that packs down to the size of a water bottle, for anglers, painters and hikers.",
        "anodised aluminium legs, ripstop seat, carries 110 kg, weight 480 g, comes with a drawstring bag.",
        "Rinse sand from the joints after beach use and dry before storing.",
    ),
    (
        "HB-9902",
        "Mistral Mini ultrasonic humidifier",
        "Adds moisture to dry bedroom air in winter, whisper quiet at 24 dB. Runs up to 30 hours on its 3-litre "
        "tank and switches itself off when empty.",
        "ultrasonic mist, optional aroma tray, night light, auto humidity target 40–60 %.",
        "Use distilled water to prevent white dust; descale weekly with diluted vinegar.",
    ),
    (
        "KP-3318",
        "Corvane 87 mechanical keyboard",
        "A compact tenkeyless keyboard with hot-swappable switches, so you can change the feel of any key without "
        "soldering.",
        "gasket-mounted aluminium case, PBT keycaps, per-key RGB, Bluetooth 5.1 and USB-C, 4000 mAh battery.",
        "Ships with linear Corvane Jade switches and a keycap puller.",
    ),
    (
        "BX-6604",
        "Keepfresh insulated bento lunch box",
        "A lunch box with three sealed compartments that keeps food warm for six hours or cold for eight.",
        "double-walled stainless steel, leakproof silicone seals, 1.1 litre total, cutlery set in the lid.",
        "Dishwasher safe except the lid; do not microwave.",
    ),
    (
        "SN-1207",
        "Quietude Pro over-ear headphones",
        "Noise-cancelling headphones for commuters and open offices, with a transparency mode for announcements.",
        "40 hours of battery with cancellation on, fast charge gives 5 hours in 10 minutes, multipoint pairing, "
        "foldable, 254 g.",
        "Includes a hard case and an aeroplane adapter.",
    ),
    (
        "GR-8810",
        "Millstone 300 electric grain mill",
        "Grinds wheat, rye, spelt and buckwheat into fresh flour at home, from coarse meal to fine pastry flour.",
        "corundum-ceramic burrs, 360 W motor, hopper holds 850 g, grinds 100 g per minute, beech wood housing.",
        "Never grind oily seeds or coffee; they clog the stones.",
    ),
    (
        "WP-4472",
        "Scree Shell waterproof hiking jacket",
        "A three-layer shell for mountain walking in heavy rain, with pit zips for ventilation on the climb.",
        "20,000 mm waterproof rating, helmet-compatible hood, taped seams, packs into its chest pocket, 390 g.",
        "Wash with technical cleaner and tumble dry low to restore the water-repellent finish.",
    ),
    (
        "PT-3091",
        "Verdant Cube self-watering planter",
        "A planter with a hidden reservoir and wicking insert, so herbs and houseplants drink as they need for up "
        "to three weeks while you are away.",
        "recycled polypropylene, 2.5 litre reservoir, water-level float indicator, 22 cm cube.",
        "Refill when the float drops to the red line.",
    ),
    (
        "CH-5526",
        "Postura ergonomic office chair",
        "A task chair for long working days with adjustable lumbar support, seat depth and 4D armrests.",
        "breathable mesh back, synchronous tilt with lock, class 4 gas lift, tested to 150 kg, five-year warranty.",
        "Tighten the armrest bolts after the first month of use.",
    ),
    (
        "VC-2280",
        "Dustrel robot vacuum",
        "A robot vacuum that maps the home with a laser sensor and empties itself into a sealed bag in its dock.",
        "2,500 Pa suction, 180 minutes run time, no-go zones in the app, climbs 2 cm thresholds.",
        "Replace the dock bag every 60 days and cut hair from the brush roll weekly.",
    ),
    (
        "BL-4407",
        "Vortika countertop blender",
        "A 1,400 W blender that crushes ice, makes nut butter and heats soup through blade friction alone.",
        "2-litre Tritan jug, six stainless blades, tamper included, pulse and three programmes.",
        "Clean by blending warm water with a drop of washing-up liquid for thirty seconds.",
    ),
]


def recipe(title: str, serves: str, ingredients: str, method: str) -> str:
    return f"{title}\nServes {serves}\n\nIngredients: {ingredients}\n\nMethod: {method}\n"


RECIPES = [
    (
        "Cardamom rice pudding",
        "4",
        "100 g short-grain rice, 900 ml whole milk, 60 g sugar, 6 green cardamom pods, a strip of orange peel.",
        "Crack the cardamom pods and simmer everything gently for 40 minutes, stirring often so the rice does not "
        "catch. Remove the peel and pods. Serve warm with a spoon of blackberry jam.",
    ),
    (
        "Smoked mackerel pâté",
        "6 as a starter",
        "two smoked mackerel fillets, 150 g cream cheese, juice of half a lemon, 1 tsp creamed horseradish, chives.",
        "Peel the skin off the fish and flake it, checking for bones. Mash with the cream cheese, lemon and "
        "horseradish; keep it a little rough. Chill an hour and spread on oatcakes.",
    ),
    (
        "Buckwheat blini",
        "about 20 small pancakes",
        "100 g buckwheat flour, 50 g plain flour, 7 g dried yeast, 250 ml warm milk, 1 egg, crème fraîche to serve.",
        "Whisk flours, yeast and milk; leave to rise for an hour. Beat in the egg yolk, then fold in the stiffly "
        "whisked white. Fry spoonfuls in butter until bubbles appear, flip, and top with crème fraîche and dill.",
    ),
    (
        "Beetroot and horseradish salad",
        "4",
        "four roasted beetroot, 2 tbsp grated fresh horseradish, 3 tbsp soured cream, walnuts, a few leaves of "
        "watercress.",
        "Slice the cooled beetroot into wedges. Stir the horseradish into the soured cream with salt. Spoon over "
        "the beetroot, scatter toasted walnuts and watercress. The dressing should sting the nose a little.",
    ),
    (
        "Slow-roast lamb shoulder with anchovies",
        "6",
        "a 2 kg lamb shoulder on the bone, 8 anchovy fillets, 1 head of garlic, rosemary, a glass of white wine.",
        "Stab the meat all over and push in slivers of garlic, anchovy and rosemary. Roast covered at 150 °C for "
        "four and a half hours with the wine in the tin. The anchovies melt away and leave only a deep savoury "
        "taste; the meat should pull apart with a spoon.",
    ),
    (
        "Miso-glazed aubergine",
        "2",
        "two aubergines, 2 tbsp white miso, 1 tbsp mirin, 1 tsp sugar, sesame seeds, spring onion.",
        "Halve the aubergines, score the flesh in a diamond pattern and roast cut side down at 200 °C for 25 "
        "minutes. Brush with the miso, mirin and sugar paste and grill until it bubbles and darkens at the edges.",
    ),
    (
        "Feeding a sourdough starter",
        "one loaf a week",
        "rye or wholemeal flour, lukewarm water, a clean jar.",
        "Discard all but 50 g of the starter, add 50 g flour and 50 g water, stir and loosely cover. At room "
        "temperature it should double within six hours; if it smells of nail varnish it is hungry, so feed it "
        "twice a day until it recovers. A starter kept in the fridge needs feeding only weekly.",
    ),
    (
        "Pear and ginger crumble",
        "6",
        "six ripe pears, 2 balls of stem ginger in syrup, 150 g flour, 100 g cold butter, 75 g demerara sugar, oats.",
        "Slice the pears into a dish with the chopped ginger and a spoon of its syrup. Rub butter into flour until "
        "it looks like breadcrumbs, stir in sugar and oats, and scatter on top. Bake at 190 °C for 35 minutes "
        "until golden. Serve with custard.",
    ),
    (
        "Chickpea and spinach curry",
        "4",
        "two tins of chickpeas, 200 g spinach, onion, garlic, ginger, 1 tin coconut milk, garam masala, turmeric.",
        "Soften the onion, then add garlic, ginger and spices for a minute. Pour in the coconut milk and chickpeas "
        "and simmer 15 minutes. Wilt in the spinach at the end and season with lime. Good with rice or flatbread.",
    ),
    (
        "Lemon posset",
        "4",
        "600 ml double cream, 150 g caster sugar, juice of three lemons, shortbread to serve.",
        "Bring the cream and sugar to the boil and let it bubble for exactly three minutes. Off the heat, whisk "
        "in the lemon juice; the acid sets the cream without gelatine or eggs. Pour into glasses and chill for at "
        "least four hours.",
    ),
    (
        "Quick pickled red onions",
        "one jar",
        "two red onions, 150 ml cider vinegar, 1 tbsp sugar, 1 tsp salt, a few peppercorns and a bay leaf.",
        "Slice the onions thinly and pack them into a jar. Warm the vinegar with sugar and salt until dissolved "
        "and pour over. Within an hour they turn bright pink. Keeps two weeks in the fridge; lovely on tacos.",
    ),
    (
        "Hungarian goulash",
        "6",
        "1 kg beef shin, three onions, 3 tbsp sweet paprika, caraway seeds, two peppers, potatoes, beef stock.",
        "Brown the beef in batches. Cook the onions slowly until soft, take the pan off the heat and stir in the "
        "paprika so it does not burn. Add caraway, meat and stock; simmer two hours, adding potatoes and peppers "
        "for the last forty minutes.",
    ),
    (
        "Elderflower cordial",
        "about 2 litres",
        "25 elderflower heads picked on a sunny morning, 1.5 litres water, 1 kg sugar, two lemons, 50 g citric acid.",
        "Shake the insects off the flower heads. Dissolve the sugar in boiling water, add sliced lemons, citric "
        "acid and flowers, and steep for 24 hours. Strain through muslin and bottle. Dilute one part to ten.",
    ),
]


def travel(place: str, date: str, note: str) -> str:
    return f"Travel notes: {place}\n{date}\n\n{note}\n"


TRAVEL = [
    (
        "Gjirokastër, Albania",
        "14 April",
        "The whole old town is built of grey stone, even the roofs, which are slabs of slate laid like fish scales. "
        "Climbed to the castle at noon and found an old American air force plane parked inside the walls. Dinner "
        "of qifqi, little rice balls with mint, at a family place below the bazaar. The cobbles are lethal in the "
        "rain; bring shoes with grip.",
    ),
    (
        "Tórshavn, Faroe Islands",
        "2 July",
        "Fog rolled in three times in one afternoon. The parliament buildings on Tinganes are tiny, red-painted "
        "wood with grass roofs, and nobody stopped us walking between them. Tried fermented lamb called ræst; "
        "strong, like blue cheese. Bus to Gásadalur to see the waterfall dropping straight into the sea.",
    ),
    (
        "Salar de Uyuni, Bolivia",
        "9 March",
        "Left at 4 a.m. to reach the salt flat before sunrise. After the rains a thin film of water turns the "
        "whole plain into a mirror and the horizon disappears. Our driver Wilfredo played Andean flute music and "
        "made everyone do silly perspective photos. Altitude headaches for two of us; coca tea helped.",
    ),
    (
        "Hallstatt, Austria",
        "21 August",
        "The postcard village on the lake is beautiful but crammed with coach tours by ten in the morning. Went up "
        "the funicular to the salt mine and slid down the miners' wooden slides. The bone house beside the church "
        "holds painted skulls with names and dates. Stayed in Obertraun across the water, which is quiet.",
    ),
    (
        "Luang Prabang, Laos",
        "5 December",
        "Woke at half five to watch the monks' morning alms procession: a long line of saffron robes collecting "
        "sticky rice in silence. Please do not use flash. Afternoon swim in the turquoise pools at Kuang Si, then "
        "sunset from Mount Phousi, which has 328 steps and too many people.",
    ),
    (
        "Matera, Italy",
        "30 September",
        "People lived in the caves of the Sassi until the 1950s, when the government moved them out. Now the cave "
        "houses are hotels and restaurants lit with candles. We slept in a room carved into the rock; it stays "
        "cool even in heat. Walked across the ravine to the Murgia plateau for the view back at the town.",
    ),
    (
        "Kotor, Montenegro",
        "11 June",
        "Climbed the city walls up to the fortress of San Giovanni: 1,350 steps, start early before the heat. "
        "Three cruise ships were moored in the fjord-like bay and the old town was packed until they left at six. "
        "A boat to Perast and the little church on an artificial island called Our Lady of the Rocks.",
    ),
    (
        "Tromsø, Norway",
        "19 January",
        "The sun does not rise at all at this time of year; there are a few hours of blue twilight around noon. "
        "Took the cable car up Storsteinen and waited in minus twelve until the aurora appeared as green ribbons "
        "over the fjord. The Arctic Cathedral looks like a stack of white triangles.",
    ),
    (
        "Chefchaouen, Morocco",
        "3 May",
        "Every wall and staircase in the medina is painted shades of blue, supposedly to keep mosquitoes away. "
        "Cats sleep on every step. Hiked up to the Spanish mosque for sunset and bought a woven blanket from a "
        "man called Abdeslam after twenty minutes of friendly haggling and two glasses of mint tea.",
    ),
    (
        "Oaxaca, Mexico",
        "28 October",
        "The market of 20 de Noviembre has a smoky hall where you choose raw meat and they grill it for you. Tasted "
        "seven kinds of mole at a stall; the black one has over thirty ingredients including chocolate. Families "
        "were building altars with marigolds for the Day of the Dead. Mezcal tasting in Santiago Matatlán.",
    ),
    (
        "Hội An, Vietnam",
        "12 February",
        "At night the old town switches off its streetlights and hundreds of silk lanterns glow over the river. "
        "Ordered a linen suit from a tailor at lunchtime and it was ready, fitted, the next evening. Spent the "
        "morning after in a round basket boat, spun in circles through the coconut palms.",
    ),
    (
        "Lofoten, Norway",
        "8 March",
        "Stayed in a red rorbu, an old fisherman's cabin on stilts above the water in Reine. Racks of cod hang "
        "drying in the wind everywhere, and the whole village smells of it. Stockfish from here has been shipped "
        "to Italy for centuries. Snow squalls came and went every hour over the sharp peaks.",
    ),
    (
        "Stone Town, Zanzibar",
        "17 August",
        "Got lost in the alleys, admiring the carved wooden doors with brass studs. A spice farm tour showed us "
        "cloves, vanilla and nutmeg growing; our guide Juma made crowns from palm leaves. Sunset dhow cruise, then "
        "the night food market in Forodhani Gardens: Zanzibar pizza is more like a stuffed pancake.",
    ),
]


def lab(code: str, who: str, date: str, note: str) -> str:
    return f"Lab notebook entry {code}\n{who}, {date}\n\n{note}\n"


LABS = [
    (
        "LN-0912",
        "D. Achterberg",
        "3 Feb",
        "PCR for the rbcL fragment failed again: only a faint band near 60 bp on the gel, which looks like primer "
        "dimers. Raised the annealing temperature from 55 to 61 °C and cut primer concentration by half. Repeat "
        "gave a clean band at the expected 650 bp in all six samples.",
    ),
    (
        "LN-0915",
        "S. Ferreira",
        "5 Feb",
        "Growth curve of baker's yeast in glucose medium at 30 °C. Read optical density at 600 nm every 30 "
        "minutes. Lag phase about 2 hours, doubling time 94 minutes during log phase, stationary after 11 hours. "
        "Flask C was contaminated (cloudy film, sour smell) and is excluded.",
    ),
    (
        "LN-0921",
        "second-year practical, group 4",
        "7 Feb",
        "Titrated household vinegar against 0.1 M sodium hydroxide with phenolphthalein. Mean titre 20.1 ml for "
        "a 1 ml sample diluted tenfold, giving 4.8 % acetic acid by mass; the label claims 5 %. The pink end "
        "point faded after a minute; we took the first persistent pink.",
    ),
    (
        "LN-0930",
        "K. Oyelaran",
        "10 Feb",
        "Tensile tests of 3D-printed PLA test bars printed flat versus upright. Flat bars failed at 48 MPa on "
        "average; upright bars snapped between layers at only 19 MPa. Layer adhesion is the weak point. Next: "
        "print at 215 °C instead of 200 °C and with the cooling fan at 50 %.",
    ),
    (
        "LN-0934",
        "field team",
        "12 Feb",
        "Soil samples from the Thornbury allotments, plots C1 to C9, 15 cm depth. pH measured in 1:2.5 water "
        "slurry: plots C1–C4 around 5.2, strongly acidic near the conifer hedge; C5–C9 around 6.6. Recommended "
        "liming C1–C4. Sample C7 had visible broken glass.",
    ),
    (
        "LN-0940",
        "outreach club",
        "14 Feb",
        "Growing copper sulfate crystals. Dissolved 60 g in 100 ml hot water, let it cool, and hung a seed crystal "
        "on nylon thread. After nine days the crystal reached 2.8 cm, deep blue with sharp faces. Jar 2 crystallised "
        "all over the walls because it cooled too fast on the windowsill.",
    ),
    (
        "LN-0946",
        "M. Haddad",
        "17 Feb",
        "Benchtop centrifuge stopped with an imbalance error at 4,000 rpm and a loud knocking. One tube held 9 ml "
        "and its opposite 12 ml. Re-balanced by mass to within 0.1 g and the run finished normally. Rotor checked "
        "for cracks; none. Reminder posted on the lid.",
    ),
    (
        "LN-0951",
        "J. Nakashima",
        "19 Feb",
        "Arabidopsis seeds stratified at 4 °C for three days, then germinated under blue, red and white LEDs. "
        "Blue light gave the shortest hypocotyls, about 2 mm at day five, while red gave long pale seedlings of 6 "
        "mm. Consistent with cryptochrome signalling. Photos in folder AT-24.",
    ),
    (
        "LN-0957",
        "school demonstration",
        "21 Feb",
        "Thin-layer chromatography of spinach leaf extract in acetone, run with a petroleum ether and acetone "
        "solvent. Four bands separated: orange carotene ran furthest, then grey-olive pheophytin, blue-green "
        "chlorophyll a and yellow-green chlorophyll b nearest the start line.",
    ),
    (
        "LN-0962",
        "C. Lindqvist",
        "24 Feb",
        "pH meter reading drifted by 0.3 units over an hour in the buffer at pH 7. Glass bulb was dry and the "
        "junction clogged with protein. Soaked the electrode in storage solution overnight, cleaned with pepsin, "
        "recalibrated at pH 4, 7 and 10. Slope 98 %, drift gone.",
    ),
    (
        "LN-0968",
        "A. Rautenbach",
        "26 Feb",
        "Zebrafish embryos at 48 hours after fertilisation: counted heartbeats under the microscope for 15 "
        "seconds per embryo. Controls averaged 142 beats a minute; embryos in 1 % ethanol averaged 118 and two "
        "showed swelling around the heart. n = 20 per group.",
    ),
    (
        "LN-0973",
        "physics lab 2",
        "28 Feb",
        "Viscosity of clover honey by timing a steel ball falling through a tall cylinder. At 20 °C the ball took "
        "41 s to fall 20 cm; at 35 °C only 9 s. Viscosity drops roughly fourfold for a 15 degree rise. Water bath "
        "kept temperature within half a degree.",
    ),
    (
        "LN-0979",
        "workshop",
        "2 Mar",
        "Nickel electroplating on a brass coupon using a Watts bath at 50 °C, 4 A per square decimetre for 20 "
        "minutes. First attempt gave a dull, burnt edge; polished and degreased properly the second time and the "
        "deposit came out bright and even, about 16 micrometres thick.",
    ),
]


def minutes(body: str, date: str, present: str, decisions: str) -> str:
    return f"Minutes: {body}\n{date}. Present: {present}.\n\n{decisions}\n"


MINUTES = [
    (
        "Fenwick Housing Cooperative board",
        "8 January",
        "Agnieszka Rowe (chair), Idris Bello, Colm Farrelly, Sun-Hee Park",
        "1. The rotten timber fences between the back gardens will be replaced with concrete posts and panels; "
        "budget up to £14,000 from the reserve fund. 2. Members in arrears for more than three months will be "
        "offered a payment plan before any notice. 3. The annual general meeting moves to 12 April.",
    ),
    (
        "Mobile app product team",
        "15 January",
        "Leah Goldberg, Arun Pillai, Mateo Ruiz, Zainab Hussain",
        "The launch of the new mobile app is postponed from February to March. The accessibility audit found that "
        "screen readers cannot reach the checkout button and that contrast in dark mode is too low. Mateo will fix "
        "both; Zainab will book a second audit. Marketing to be told today.",
    ),
    (
        "Parent-teacher association, Hollins Green School",
        "22 January",
        "twelve parents, the head teacher",
        "The second-hand uniform swap raised £312 and will run every term. The spring bake sale is on 14 March; "
        "nut-free labels on all cakes. Agreed to buy a new parachute and hoops for the infant playground. A parent "
        "offered to repaint the hopscotch lines.",
    ),
    (
        "Ashcombe village hall committee",
        "29 January",
        "Gwen Attwater, Desmond Fry, Rhiannon Cole, Peter Ng",
        "The old storage heaters will be replaced by an air-source heat pump if the lottery grant is approved. "
        "Hire rates rise from £12 to £15 an hour from April, with the toddler group keeping the old rate. The "
        "hall's defibrillator pads expire in May and must be reordered.",
    ),
    (
        "Marketing department",
        "5 February",
        "Oskar Lindahl, Fiona Mbeki, Renée Dubois",
        "The rebrand goes ahead: the teal and coral palette replaces navy, and the new logo drops the globe. "
        "Printed stationery will be used up before reprinting. The agency Halden & Crisp delivers brand guidelines "
        "by 1 March. Social media banners switch on launch day only.",
    ),
    (
        "Health and safety committee",
        "12 February",
        "site manager, two union representatives, cleaning supervisor",
        "A visitor slipped on the wet lobby floor during heavy rain last week; no injury. Actions: larger "
        "absorbent entrance mats, a wet-floor sign kept by the door, and mopping moved to before 7 a.m. Near-miss "
        "reports are up, which the committee welcomes as a sign that people report.",
    ),
    (
        "Thornbury allotment society",
        "19 February",
        "Harold Quist (secretary) and 18 plot holders",
        "Tools were stolen from three sheds in January; the society will fit a new lock on the main gate and "
        "change the combination every season. Water butts will be bought in bulk at £28 each. Plot 14 has been "
        "uncultivated for a year and will be offered to the waiting list.",
    ),
    (
        "Corran Valley community choir committee",
        "26 February",
        "Isolde Marchetti, Rob Tennant, Aoife Brennan",
        "Summer concert programme agreed: Fauré's Requiem plus folk arrangements. An organist will be hired for "
        "£250. Rehearsals move to Tuesday because the school hall is booked on Wednesdays. Tenors remain short; "
        "members asked to bring a friend to the open rehearsal.",
    ),
    (
        "IT steering group",
        "4 March",
        "CIO Farah Qureshi, Ben Whitlock, Yusuf Kaya",
        "Email moves to the new provider over the Easter weekend; mailboxes larger than 50 GB will be archived "
        "first. Two-factor sign-in becomes mandatory for all staff from 1 May, with authenticator apps or hardware "
        "keys. The old file server is switched off in June.",
    ),
    (
        "Harbourside residents' association",
        "11 March",
        "Noor Rahman (chair) and 31 residents",
        "Residents complain about lorries delivering to the supermarket between 2 and 4 a.m., with reversing "
        "alarms waking families. The chair will write to the store manager and the council's licensing team asking "
        "for deliveries after 6 a.m. A noise diary is to be kept for a month.",
    ),
    (
        "Friends of Penwortham Library",
        "18 March",
        "Hilary Oduya, Callum Reid, Beatrix Lowe",
        "The winter book sale raised £1,146, which will buy large-print books and a magnifying reader for "
        "visually impaired visitors. The author talk with Selwyn Harcourt is confirmed for 3 May. Volunteers are "
        "needed for the home delivery service to housebound readers.",
    ),
    (
        "Marine ecology research group",
        "25 March",
        "Prof. Ingeborg Sæther and eight members",
        "Journal club rotates alphabetically; Tobias presents next week. Two conference travel grants of £600 are "
        "available for the Lisbon meeting; priority to students without other funding. The walk-in cold room "
        "must be cleared of unlabelled samples by the end of the month.",
    ),
    (
        "Wrenmouth sailing club committee",
        "1 April",
        "Commodore Alastair Penhaligon, treasurer Jo Kessel, five members",
        "Dinghy storage fees rise to £90 a season. The harbour authority will dredge the slipway channel in May, "
        "so launching will be limited to two hours either side of high water. The safety boat engine needs a "
        "service before the first race on 4 May.",
    ),
]


def invoice(code: str, sender: str, client: str, lines: str, *payment: str) -> str:
    total, terms = payment
    return f"INVOICE {code}\nFrom: {sender}\nTo: {client}\n\n{lines}\n\nTotal due: {total}\n{terms}\n"


INVOICES = [
    (
        "INV-48213",
        "Ostrander Print Works Ltd",
        "Kiln Lane Pottery",
        "2,000 A5 brochures, 16 pages, full colour on 150 gsm silk, saddle-stitched: £1,240.00. Proof corrections, "
        "two rounds: £60.00. Delivery to Kiln Lane: £35.00.",
        "£1,335.00 plus VAT",
        "Payment within 30 days to the account shown overleaf.",
    ),
    (
        "INV-48377",
        "Saffron & Thyme Catering",
        "Northern Geology Society",
        "Conference lunch for 85 delegates on 12 May: hot buffet with two vegetarian and one vegan option, £18.50 "
        "per head. Afternoon tea and cakes, 85 at £4.20. Waiting staff, 3 for 5 hours.",
        "£2,334.50",
        "A 25 % deposit has been received; balance due in 14 days.",
    ),
    (
        "INV-50112",
        "Lumen Translation Services",
        "Kestrelworks Engineering",
        "Translation of the user manual for the KX-40 compressor from English into Brazilian Portuguese, 18,400 "
        "words at £0.11 per word. Desktop publishing of the translated manual, 64 pages.",
        "£2,344.00",
        "Certified copy available on request.",
    ),
    (
        "INV-50498",
        "ClearView Window Cleaning",
        "Halton Medical Centre",
        "Quarterly cleaning of all external windows with water-fed poles, four visits in the year, £145 per visit. "
        "Extra visit in June to remove paint splashes after the builders left.",
        "£725.00",
        "Please pay by bank transfer quoting the invoice number.",
    ),
    (
        "INV-51006",
        "Pennard Pest Control",
        "Greystone Food Bank",
        "Call-out and survey for mice in the storage room. Sealing of gaps around pipes with steel wool and mortar, "
        "six tamper-proof bait stations, three follow-up visits over six weeks.",
        "£390.00 (charity rate)",
        "Payment within 30 days.",
    ),
    (
        "INV-51233",
        "Fibreclean Carpet Care",
        "The Larches Guest House",
        "Hot-water extraction deep cleaning of carpets in 9 bedrooms and the hall stairs, stain treatment for red "
        "wine in room 4, deodorising, anti-soiling protector.",
        "£610.00",
        "Due on receipt. Thank you for your business.",
    ),
    (
        "INV-51780",
        "Marchbank & Oyelowo Solicitors",
        "Tiller Robotics Ltd",
        "Advice on the shareholder agreement, 6.5 hours at £240. Review of the employment contracts for four "
        "engineers, 3 hours. Attendance at completion meeting, 2 hours. Land Registry fee disbursed.",
        "£2,760.00 plus VAT",
        "Payment within 21 days.",
    ),
    (
        "INV-52004",
        "Highrise Access Scaffolding",
        "Bryant & Sons Builders",
        "Erection of scaffold to the front and side elevations of 27 Chandos Road, with loading bay and debris "
        "netting; hire for six weeks at £380 per week; dismantling.",
        "£3,480.00",
        "Further weeks are charged at the weekly rate. Payment within 30 days.",
    ),
    (
        "INV-52219",
        "Anouk Verhoeven Photography",
        "Lumisol Skincare",
        "Photography at the product launch evening, 4 hours, 180 edited images delivered by online gallery. "
        "Twelve retouched product shots on white background for the web shop.",
        "£1,150.00",
        "Images licensed for web and print use for three years.",
    ),
    (
        "INV-52650",
        "Swiftline Couriers",
        "Orchard Home Furnishings",
        "Next-day pallet deliveries in March: 34 pallets to the Leeds and Bristol stores; two failed deliveries "
        "because the goods-in door was closed; one Saturday surcharge.",
        "£2,071.00",
        "Failed deliveries are charged in full as agreed.",
    ),
    (
        "INV-53011",
        "Quillon Software AS",
        "Dunmore Architects",
        "Annual subscription, Quillon CAD Professional, 25 named seats at £540. Cloud rendering credits, 2,000 "
        "hours. Discount for a three-year commitment, minus 10 %.",
        "£13,950.00",
        "Licences activate when payment is received.",
    ),
    (
        "INV-53388",
        "Greenwood Arboriculture",
        "St Aldric's Parish Council",
        "Felling of a mature ash tree with advanced ash dieback beside the churchyard path, sectional dismantling "
        "with rope access, chipping of brash, stump ground out below the surface, logs left for the community.",
        "£1,480.00",
        "Felling licence reference FL-2291 obtained.",
    ),
    (
        "INV-53702",
        "Spotlight Stage Hire",
        "Pemberton Amateur Dramatic Society",
        "Hire of 24 LED profile lanterns, a lighting desk and haze machine for the week of the spring production, "
        "rigging and focusing by our technician Lars Vinter on the Sunday.",
        "£940.00",
        "Equipment must be returned by noon on Monday.",
    ),
]


def label(title: str, made: str, text: str, accession: str) -> str:
    return f"{title}\n{made}\n\n{text}\n\nAccession number {accession}\n"


LABELS = [
    (
        "Gold lunula",
        "Ireland, about 2000 BC",
        "A crescent-shaped collar beaten from a single nugget of gold until it was thinner than a fingernail, then "
        "engraved with zigzags and triangles. It was found folded in a peat bog at Derrykeel by a turf cutter in "
        "1947. Nobody knows who wore these collars, but they may have marked a chief or a priest.",
        "1947.112",
    ),
    (
        "Planispheric astrolabe",
        "Toledo, Spain, about 1260",
        "This brass instrument let an astronomer tell the time by the height of the sun or a star, and find when "
        "the sun would rise on any day. The star pointers on the rotating web are named in Arabic, with Latin "
        "added later by a Christian owner. One plate is engraved for the latitude of Toledo.",
        "1893.44",
    ),
    (
        "Netsuke of a hare",
        "Japan, Edo period, about 1800",
        "A toggle, carved from boxwood, that held a small pouch hanging from the sash of a kimono. The hare sits "
        "curled with its ears along its back; its eyes are inlaid dark horn. The carver signed the base Masanao. "
        "Hares were linked to the moon, where Japanese folklore says one pounds rice cakes.",
        "1921.7",
    ),
    (
        "Whalebone plaque",
        "Norway, Viking age, 9th century",
        "A flat board of whale bone, carved with two horse heads at one end, found in a woman's grave. Boards like "
        "this were probably used for smoothing linen with a glass stone. The grave also held oval brooches, a "
        "sickle and a bronze bowl.",
        "1886.203",
    ),
    (
        "Mourning brooch",
        "England, 1868",
        "After the death of Prince Albert, mourning jewellery became a fashion. This jet brooch holds, under a "
        "glass panel, a plaited lock of hair from a drowned fisherman, Josiah Treloar, with his initials in seed "
        "pearls. His widow wore it for eleven years.",
        "1979.55",
    ),
    (
        "Glass perfume flask",
        "Roman, Syria, 1st century AD",
        "A small free-blown bottle, called an unguentarium, that held scented oil. Glassblowing was a new invention "
        "and made such flasks cheap enough for ordinary households. The rainbow shimmer is weathering from nearly "
        "two thousand years underground.",
        "1932.18",
    ),
    (
        "Snow goggles",
        "Inuit, Nunavik, 19th century",
        "Carved from caribou antler with two narrow slits, these goggles cut the glare of sun on snow that causes "
        "snow blindness. The inside is blackened with soot to reduce reflection. A strip of sinew tied them "
        "behind the head.",
        "1902.61",
    ),
    (
        "Porcelain ewer",
        "China, Jingdezhen, Ming dynasty, about 1430",
        "Painted in cobalt blue under the glaze, with lotus scrolls and a dragon chasing a flaming pearl. The shape "
        "copies a Persian metal jug, made for export along the trade routes to the Middle East. The mark of the "
        "Xuande emperor is on the neck.",
        "1955.9",
    ),
    (
        "Pilgrim badge",
        "England, about 1400",
        "A cheap cast badge of lead and tin showing the head of Saint Thomas Becket, bought by a pilgrim at "
        "Canterbury and pinned to a hat as proof of the journey. Hundreds have been found in the mud of the "
        "Thames, perhaps thrown in for luck on the way home.",
        "1968.240",
    ),
    (
        "Portrait of a shipbuilder",
        "Oil on canvas, by Annelise Vortmann, 1911",
        "Vortmann painted the master shipwright Eilert Grønstad in his yard, holding a half-model of a hull. She "
        "was one of the first women admitted to the Oslo academy, and she worked from sketches made on the slipway "
        "in all weathers.",
        "1998.3",
    ),
    (
        "Marine chronometer",
        "London, by Parkinson & Frodsham, 1832",
        "A clock precise enough to keep Greenwich time across months at sea, so that a navigator could work out "
        "longitude from the difference with local noon. It sits in gimbals inside a brass-bound box to stay level "
        "as the ship rolls. It sailed on HMS Ardent.",
        "1951.77",
    ),
    (
        "Blue faience hippopotamus",
        "Egypt, Middle Kingdom, about 1900 BC",
        "Glazed bright blue and painted with lotus flowers, as if the animal stood in a marsh. Hippos were "
        "dangerous to people on the Nile, so this figure's legs were deliberately broken before it was placed in "
        "the tomb, to stop it harming the dead.",
        "1910.304",
    ),
    (
        "Typewriter of Orla Quennell",
        "Remington portable, 1926",
        "The novelist Orla Quennell wrote all nine of her books on this machine in a cottage on the island of "
        "Inishcorr. The letter e is almost worn away. Her manuscripts, with coffee rings and pencil corrections, "
        "are in the archive upstairs.",
        "2004.12",
    ),
]


def sighting(species: str, place: str, date: str, observer: str, note: str) -> str:
    return f"Bird record: {species}\nWhere: {place}\nWhen: {date}\nObserver: {observer}\n\n{note}\n"


BIRDS = [
    (
        "Hoopoe",
        "Brackwater gravel pits, east track",
        "22 April, 07:40",
        "Fenella Whitcombe",
        "One adult feeding on the short turf by the car park, probing for grubs with its long curved bill. It "
        "raised its crest like a fan when a walker passed. Salmon pink body, black and white barred wings. A "
        "spring overshoot from the continent; first county record in six years.",
    ),
    (
        "Bearded tit",
        "Saltmarsh reedbed, Holmesby",
        "3 November, 10:15",
        "Declan Morrow",
        "At least eleven birds pinging in the reeds, then a group shot up high and circled, 'erupting' as they do "
        "in autumn before moving on. Males with the grey head and black moustache clear in the scope. Feeding on "
        "reed seed heads.",
    ),
    (
        "Osprey",
        "Loch Garten, north shore",
        "14 May, 18:30",
        "Isla MacAskill",
        "Watched the female hover, fold her wings and plunge feet first into the loch, rising with a trout that "
        "she turned head forward to cut wind resistance. She carried it to the nest platform where the male was "
        "sitting on eggs.",
    ),
    (
        "Waxwing",
        "Tesco car park, Harrowgate Road",
        "9 January, 12:05",
        "Amir Sadeghi",
        "A flock of 46 stripping the berries from ornamental rowan trees planted round the car park, trilling "
        "like little bells. Came down to drink from a puddle. Irruption year: they have arrived from Scandinavia "
        "after a poor berry crop there.",
    ),
    (
        "Nightjar",
        "Wareley Heath",
        "19 June, 22:10",
        "Rosa Kettleborough",
        "Two males churring from the pines at dusk, a long mechanical purr like a distant motorbike. One flew low "
        "over our heads clapping its wings and flashing white wing spots. Heard a third bird later near the "
        "burnt area of heather.",
    ),
    (
        "Red-backed shrike",
        "Coastal scrub near Spurn",
        "28 August, 09:00",
        "Hugo Blackwood",
        "A juvenile hunting from the top of a hawthorn. It had impaled a bumblebee and a small beetle on the "
        "thorns, the shrike's larder. Scaly brown upperparts. Stayed two days, then gone on the clear night with "
        "north-west winds.",
    ),
    (
        "Snow bunting",
        "Shingle ridge, Cley",
        "2 December, 14:20",
        "Aiko Tanaka",
        "A flock of about thirty feeding on seeds along the strandline, white wings flashing as they flew and "
        "settled like blown snowflakes. Very tame; they came within three metres when we sat still.",
    ),
    (
        "Barn owl",
        "Water meadows below Amberford church",
        "11 February, 16:45",
        "Gideon Pask",
        "Ghostly white, quartering the rough grass field a metre above the ground in the last light. Dropped "
        "three times; the third time came up with a vole and flew to the old oak with the nest box.",
    ),
    (
        "Dipper",
        "River Wharfe at Burnsall bridge",
        "25 March, 08:30",
        "Nadia Okonkwo",
        "One bobbing on a mid-stream boulder with its white bib, then walking straight into the fast water and "
        "feeding underwater for several seconds. A pair carrying moss under the bridge arch, probably building.",
    ),
    (
        "Great crested grebe",
        "Ellesmere mere",
        "6 April, 11:00",
        "Tobias Fairbairn",
        "A pair doing the weed dance: both dived, surfaced with beakfuls of waterweed, swam towards each other and "
        "rose up breast to breast, paddling furiously and shaking their heads. Ear tufts and chestnut frills "
        "fully raised.",
    ),
    (
        "Starling murmuration",
        "Aberystwyth pier",
        "30 November, 16:10",
        "Ceri Vaughan",
        "Roughly 40,000 birds swirled over the sea for twenty minutes at sunset, shapes folding and stretching, "
        "before pouring down into the iron legs under the pier to roost. A peregrine made two passes and the "
        "flock split around it.",
    ),
    (
        "Common crane",
        "Hickling fen",
        "12 March, 07:15",
        "Lotte van Dijk",
        "Pair bugling and dancing on the grazing marsh, leaping with wings half open and tossing grass. Tall "
        "grey birds with a red crown patch. The pair returned to breed for the fourth year.",
    ),
    (
        "Kingfisher",
        "Canal basin, lock 7, Marsworth",
        "17 October, 09:50",
        "Basil Thornycroft",
        "A flash of electric blue low along the canal, then perched on a mooring rope, orange breast showing. "
        "Dived twice and caught a minnow, which it beat against the rope before swallowing head first.",
    ),
]


def release(product_name: str, version: str, date: str, changes: str) -> str:
    return f"{product_name} {version} release notes\nReleased {date}\n\n{changes}\n"


RELEASES = [
    (
        "Tessellate",
        "4.2.0",
        "3 March",
        "New: a dark mode that follows the operating system setting. New: export drawings to SVG with layers "
        "kept as groups. Fixed: the snapping grid ignored custom spacing after undo. Deprecated: the legacy "
        "plugin API, to be removed in 5.0.",
    ),
    (
        "Ferrule",
        "1.8.3",
        "10 March",
        "Security and stability release. Fixed a memory leak in the connection pool that made long-running "
        "services grow by about 20 MB an hour. Fixed a race when two workers closed the same socket. Upgrading "
        "from 1.8.x needs no configuration changes.",
    ),
    (
        "Quillmark",
        "2.0.0",
        "17 March",
        "Breaking: support for Python 3.8 and 3.9 is dropped; Python 3.10 or newer is required. Breaking: "
        "configuration moves from quillmark.ini to pyproject.toml. New: incremental builds only re-render changed "
        "pages, about six times faster on large sites.",
    ),
    (
        "Brindle CLI",
        "0.9.7",
        "24 March",
        "Downloads now show a progress bar with speed and time left, and an interrupted download resumes where it "
        "stopped instead of starting over. Added the --mirror flag to choose a server. Fixed colours in Windows "
        "terminals.",
    ),
    (
        "Orrery Maps",
        "3.1",
        "31 March",
        "Maps can now be saved for offline use: select an area and the tiles, search index and walking routes are "
        "stored on the phone, up to 2 GB. Contour lines added to the terrain layer. Fixed compass drift on some "
        "Android phones.",
    ),
    (
        "LatticeDB",
        "5.5",
        "7 April",
        "The query planner now chooses hash joins for large unsorted tables, making typical reporting queries "
        "three to eight times faster. New EXPLAIN ANALYZE output shows rows per step. Fixed wrong results from "
        "LIKE with a trailing backslash.",
    ),
    (
        "Pinewood CMS",
        "7.0",
        "14 April",
        "Editors can schedule an article to publish and unpublish at set times. New roles: contributor and "
        "reviewer. Image uploads are converted to WebP automatically. Removed: the old WYSIWYG editor; the block "
        "editor is now the only one.",
    ),
    (
        "Kestrel Mail",
        "12.4",
        "21 April",
        "Undo send: a message waits 30 seconds before leaving, with an Undo button. Snooze a thread until a chosen "
        "time. Search now finds words inside PDF attachments. Fixed: replies to calendar invitations were sent "
        "twice.",
    ),
    (
        "Sundial Calendar",
        "2.3.1",
        "28 April",
        "Fixed a bug where meetings created in another time zone shifted by one hour after the change to summer "
        "time. Recurring events that end on a leap day now end correctly. Week numbers follow ISO 8601.",
    ),
    (
        "Hopscotch Engine",
        "1.1",
        "5 May",
        "Gamepad rumble and vibration support on all platforms. Sprite atlases are packed at build time, cutting "
        "load times by half. New 2D lighting with soft shadows. Known issue: audio stutters on some Linux "
        "systems using PulseAudio.",
    ),
    (
        "Vellum PDF",
        "6.2",
        "12 May",
        "Scanned pages are now recognised with OCR so their text can be searched, selected and copied, in 18 "
        "languages. Redaction removes the hidden text under black boxes as well. Fixed crashes when printing "
        "forms with more than 500 fields.",
    ),
    (
        "Nimbus Backup",
        "3.0",
        "19 May",
        "Backups are now encrypted end to end with a passphrase only you know; we cannot reset it. Restore a "
        "single file from any snapshot without downloading the whole backup. Bandwidth limits per schedule. "
        "Existing backups are converted on the first run.",
    ),
    (
        "Tally POS",
        "8.1",
        "26 May",
        "Customers can add a tip on the card reader during contactless payment. Receipts can be emailed instead "
        "of printed. Fixed: the cash drawer opened twice on split payments. Requires card reader firmware 4.7 or "
        "later; update it from the settings screen before upgrading.",
    ),
]


def clause(number: str, heading: str, text: str) -> str:
    return f"Clause {number}. {heading}\n\n{text}\n"


CLAUSES = [
    (
        "14.2",
        "Force majeure",
        "Neither party is liable for a failure or delay in performing its obligations caused by events beyond its "
        "reasonable control, including flood, fire, epidemic, war, strike of third parties or the failure of a "
        "public utility. The affected party shall notify the other within five business days and use reasonable "
        "efforts to resume performance. If the event continues for more than ninety days, either party may "
        "terminate this Agreement by written notice.",
    ),
    (
        "9.1",
        "Confidentiality",
        "Each party shall keep the other's Confidential Information secret, use it only to perform this "
        "Agreement, and disclose it only to employees and advisers who need to know it and are bound by similar "
        "duties. These obligations survive for five years after termination. They do not apply to information "
        "that is public through no fault of the receiving party or that a court orders disclosed.",
    ),
    (
        "11.3",
        "Limitation of liability",
        "The Supplier's total liability arising out of or in connection with this Agreement, whether in contract, "
        "tort or otherwise, shall not exceed the fees paid by the Customer in the twelve months before the event "
        "giving rise to the claim. Neither party is liable for loss of profits, revenue or goodwill, or for any "
        "indirect loss. Nothing limits liability for death or personal injury caused by negligence, or for fraud.",
    ),
    (
        "16.1",
        "Termination for convenience",
        "The Customer may terminate this Agreement at any time, for any reason, by giving the Supplier not less "
        "than sixty days' written notice. The Customer shall pay for services performed up to the date of "
        "termination and for non-cancellable commitments the Supplier made in good faith before receiving notice.",
    ),
    (
        "22",
        "Governing law and jurisdiction",
        "This Agreement and any dispute arising from it is governed by the laws of Scotland. The parties submit "
        "to the exclusive jurisdiction of the Court of Session in Edinburgh, except that either party may seek an "
        "injunction in any court of competent jurisdiction to protect its intellectual property.",
    ),
    (
        "7.4",
        "Restrictive covenant",
        "For twelve months after the end of employment, the Employee shall not, within fifty kilometres of any "
        "office of the Company, work for or set up a business that competes with the Company's products, nor "
        "solicit any customer with whom the Employee dealt in the final year of employment.",
    ),
    (
        "12.1",
        "Ownership of deliverables",
        "All intellectual property rights in the deliverables, including designs, source code and documentation "
        "created by the Contractor under this Agreement, are assigned to the Client on payment in full. The "
        "Contractor keeps ownership of its pre-existing tools and grants the Client a perpetual, royalty-free "
        "licence to use them as part of the deliverables.",
    ),
    (
        "5.6",
        "Late payment",
        "Invoices are payable within thirty days of receipt. Any sum not paid when due bears interest at 1.5 per "
        "cent per month from the due date until payment, and the Supplier may suspend the services after giving "
        "ten days' notice of the overdue amount.",
    ),
    (
        "13",
        "Indemnity",
        "The Licensee shall indemnify and hold harmless the Licensor against all claims, damages and reasonable "
        "legal costs brought by third parties arising from the Licensee's misuse of the Software or breach of "
        "this Agreement, provided that the Licensor promptly notifies the Licensee of the claim and lets it "
        "control the defence.",
    ),
    (
        "18.2",
        "Data processing",
        "The Processor shall process personal data only on the documented instructions of the Controller, ensure "
        "that its staff are bound by confidentiality, and notify the Controller of a personal data breach within "
        "48 hours. On termination it shall delete or return all personal data within thirty days, unless law "
        "requires it to be kept.",
    ),
    (
        "20.1",
        "Assignment",
        "Neither party may assign, transfer or subcontract any of its rights or obligations under this Agreement "
        "without the prior written consent of the other, which shall not be unreasonably withheld, except that "
        "either party may assign the Agreement to a successor in a merger or sale of substantially all its assets.",
    ),
    (
        "4.3",
        "Tenancy deposit",
        "The Tenant pays a deposit equal to five weeks' rent, protected in a government-approved scheme within "
        "thirty days. At the end of the tenancy the Landlord returns it within fourteen days, less any reasonable "
        "cost of repairing damage beyond fair wear and tear, with an itemised list of deductions.",
    ),
    (
        "10.2",
        "Product warranty",
        "The Seller warrants that the Goods will be free from defects in materials and workmanship for twenty-four "
        "months from delivery. The Buyer's sole remedy is repair or replacement at the Seller's choice. The "
        "warranty does not cover damage caused by misuse, accident or repairs by anyone other than the Seller.",
    ),
]


def log(vessel: str, date: str, position: str, entry: str) -> str:
    return f"Log of the {vessel}\n{date}, {position}\n\n{entry}\n"


SHIP_LOGS = [
    (
        "MV Calliope Drift",
        "4 June, 14:00",
        "12 miles south-west of the Scillies",
        "Engine temperature alarm; shut down the main engine and drifted while the engineer, Ruairi Coyle, "
        "opened the raw water pump. Three vanes of the impeller had broken off. Fitted the spare, found the "
        "missing pieces in the heat exchanger, restarted after 50 minutes. Temperature normal at 72.",
    ),
    (
        "SV Tamsin Rook",
        "18 July, 11:30",
        "mid-Atlantic, 31°N 42°W",
        "Becalmed for the second day, sea like oil. Crew swam off the stern on a line while Maud kept watch for "
        "sharks. Saw a Portuguese man o' war drift past. Fuel kept for emergencies, so no motoring. Barometer "
        "steady at 1,024.",
    ),
    (
        "RV Halcyon Mercer",
        "2 September, 03:20",
        "station 14, Rockall Trough",
        "CTD cast to 1,800 metres; water samples taken at twelve depths in the rosette bottles. A layer of "
        "unusually salty water between 800 and 1,000 metres, which the chief scientist Dr Ewa Brzezinska "
        "thinks is Mediterranean outflow. Plankton net hauled at dawn.",
    ),
    (
        "trawler Marigold Venn",
        "21 October, 06:45",
        "Dogger Bank",
        "The net snagged hard on an uncharted wreck and the boat heeled over before the winchman eased the warps. "
        "Lost one trawl door and half the net. Position of the obstruction reported to the coastguard for the "
        "charts. Returned to port early.",
    ),
    (
        "ferry Saint Odran",
        "9 December, 07:00",
        "alongside at Penzance",
        "Crossing to the islands cancelled: south-westerly gale force 9 forecast, swell over five metres at the "
        "harbour entrance. Passengers rebooked on Thursday's sailing; freight for the island shop held in the "
        "warehouse.",
    ),
    (
        "tug Brannock",
        "15 January, 16:30",
        "Humber estuary",
        "Took the dumb barge Thorne Lady in tow from Hull to Goole, 420 tonnes of steel coil. Tow line parted off "
        "Brough in a squall; reconnected with the spare hawser within twenty minutes. Arrived Goole 21:10.",
    ),
    (
        "schooner Ingrid Solvay",
        "27 August, 02:10",
        "80 miles west of Ireland",
        "Deckhand Saoirse with severe abdominal pain, suspected appendicitis. Radio medical advice from the "
        "coastguard; a helicopter winched her off at 04:30 in a three-metre swell. Course altered for Galway. "
        "Crew shaken but well.",
    ),
    (
        "yacht Perrin's Luck",
        "12 May, 09:15",
        "approaching the Needles",
        "Thick fog, visibility 50 metres. Sounding one long and two short blasts every two minutes, radar on the "
        "six-mile range. Large contact closing at 14 knots on the starboard bow; called it on channel 16 and the "
        "ship altered course. Fog lifted off Hurst Castle.",
    ),
    (
        "container ship Aurelio Sky",
        "3 February, 22:40",
        "Bay of Biscay",
        "Heavy rolling in a beam sea up to 30 degrees. Lashings failed on bay 42 and four containers were lost "
        "overboard, two of them holding plastic toys. Reported the loss and positions to the French and Spanish "
        "authorities as a danger to navigation.",
    ),
    (
        "whale-watching boat Sea Lantern",
        "23 July, 15:00",
        "off Húsavík",
        "A humpback breached six times close to the boat, then lifted its tail showing a white pattern we matched "
        "to the whale catalogued as Salka. Two minke whales and many puffins on the way back. 64 passengers, "
        "three seasick.",
    ),
    (
        "icebreaker Nordvik Star",
        "6 March, 08:00",
        "Gulf of Bothnia",
        "Escorting a convoy of three cargo ships through sea ice 60 cm thick with pressure ridges. One ship, the "
        "Baltic Juniper, got stuck and we circled it to break the ice free. Outside temperature minus 22.",
    ),
    (
        "sail training ship Meridian Fox",
        "29 June, 10:00",
        "Firth of Clyde",
        "First day for 24 teenage cadets. All climbed the rigging to the first yard in harnesses; two froze and "
        "were talked down calmly. Afternoon spent learning knots and taking turns at the helm. Anchored in "
        "Lamlash Bay.",
    ),
    (
        "lifeboat RNLB Margaret Hesketh",
        "14 August, 17:25",
        "Whitesands Bay",
        "Launched to a kayaker blown offshore by an easterly wind. Found him clinging to the upturned kayak, "
        "cold but conscious. Recovered both, landed him to the waiting ambulance. Time from pager to launch: six "
        "minutes.",
    ),
]


def garden(title: str, text: str) -> str:
    return f"Garden notes: {title}\n\n{text}\n"


GARDEN = [
    (
        "winter pruning of apple trees",
        "Prune apple trees between leaf fall and the end of February, while they are dormant. First take out "
        "dead, diseased and crossing branches, then open the centre into a goblet shape so air and light get in. "
        "Never remove more than a quarter of the canopy in one winter, or the tree answers with a thicket of "
        "water shoots.",
    ),
    (
        "dividing hostas and keeping slugs off",
        "Lift a crowded hosta clump in spring as the shoots poke through and slice it into pieces with a spade, "
        "each with a few buds. Slugs shred the leaves overnight: a ring of copper tape round pots, grit barriers, and "
        "a torch-lit hunt after rain all help. Thick-leaved blue varieties resist best.",
    ),
    (
        "making compost",
        "Mix roughly equal volumes of greens (grass clippings, vegetable peelings) and browns (cardboard, dry "
        "leaves, straw). Too much grass turns the heap slimy and smelly; too many browns and nothing happens. "
        "Turn it every few weeks and keep it as damp as a wrung-out sponge. Ready in six to twelve months.",
    ),
    (
        "moss in the lawn",
        "Moss takes over where grass is weak: shade, poor drainage, compacted soil, mowing too short. In early "
        "autumn rake it out hard with a scarifier, spike the ground with a fork every 10 cm, brush sharp sand into "
        "the holes, and overseed with a shade-tolerant fescue mix.",
    ),
    (
        "growing garlic",
        "Plant single cloves pointed end up, 15 cm apart and 2 cm deep, in October or November; garlic needs a "
        "cold spell to split into a bulb. Keep weeds away, stop watering in June, and lift when the lower "
        "leaves turn yellow. Dry the bulbs in the sun for two weeks before plaiting.",
    ),
    (
        "black spot on roses",
        "Black spot is a fungus: purple-black blotches with fringed edges on the leaves, which then yellow and "
        "drop. Collect and bin every fallen leaf, never compost them, water at the base rather than over the "
        "foliage, and mulch in spring to bury the spores. Choose resistant varieties next time.",
    ),
    (
        "potato blight",
        "In warm, wet weather, brown patches with a pale fringe spread on potato leaves and stems within days. "
        "Cut all the foliage off at ground level as soon as you see it and wait three weeks before digging, so "
        "the spores on the surface die and do not reach the tubers. Grow blight-resistant Sarpo varieties.",
    ),
    (
        "repotting a fiddle-leaf fig",
        "Move the fig to a pot only 5 cm wider than the old one in spring, with free-draining bark-rich compost. "
        "It sulks when moved and may drop a leaf or two. Keep it in the same bright spot out of direct afternoon "
        "sun, water only when the top 5 cm are dry, and wipe the big leaves free of dust.",
    ),
    (
        "sowing a wildflower meadow",
        "Wildflowers need poor soil: strip the turf and do not add compost. Sow yellow rattle first in autumn; it "
        "is a parasite on grass roots and weakens the grass so that flowers can compete. Scatter the meadow mix on "
        "the surface and walk it in. Cut once in late summer and remove the hay.",
    ),
    (
        "blueberries in pots",
        "Blueberries only thrive in acid soil around pH 4.5 to 5.5, so in most gardens grow them in pots of "
        "ericaceous compost. Water with rainwater, since tap water is often too alkaline and yellows the leaves. "
        "Plant two varieties together for better pollination and net the bushes against blackbirds.",
    ),
    (
        "forcing rhubarb",
        "In late winter cover a rhubarb crown with an upturned bucket or a tall terracotta forcer to shut out the "
        "light. Within four to six weeks you get tender, pale pink stalks, sweeter than outdoor ones. Do not force "
        "the same crown two years running; let it rest and feed it with manure.",
    ),
    (
        "overwintering dahlias",
        "After the first frost blackens the foliage, cut the stems to 10 cm and lift the tubers. Turn them upside "
        "down for a week to drain, then store in dry compost in a frost-free shed. Check monthly for rot. In mild "
        "gardens with free-draining soil you can leave them in the ground under a thick mulch.",
    ),
    (
        "controlling running bamboo",
        "Running bamboos send underground rhizomes several metres a year, under paths and into neighbours' "
        "gardens. Sink a 60 cm deep root barrier of heavy polyethylene around the planting, with a lip above "
        "the soil, and check the edge each autumn for runners escaping over the top.",
    ),
]


def letter(subject: str, sender: str, text: str) -> str:
    return f"Subject: {subject}\nFrom: {sender}\n\n{text}\n"


LETTERS = [
    (
        "Order A-77120: wrong size",
        "Gareth Pennington",
        "Hello, I ordered the Tarn walking boots in size 44 and the box says 44 but the boots inside are size 41. "
        "The outer label and the shoes don't match. I need them for a trip in ten days. Please send the right "
        "size and a returns label for these. Thanks, Gareth",
    ),
    (
        "Charged twice this month",
        "Yewande Adebayo",
        "Dear support, my bank statement shows two payments of £9.99 for my streaming subscription on 3 March, "
        "one minute apart. I only have one account. Please refund the duplicate payment. I have attached a "
        "screenshot of the statement.",
    ),
    (
        "No hot water during our stay",
        "Mr and Mrs Castellanos",
        "We stayed in room 208 from the 12th to the 15th. There was no hot water on two of our three mornings, and "
        "reception said only that the engineer was coming. We had to shower in cold water before a long "
        "drive home. We would like a partial refund for the inconvenience.",
    ),
    (
        "Parcel left at the wrong house",
        "Ilse Vermeulen",
        "Your driver's photo shows my parcel on a doorstep, but it is not my door: I live at 14 Rosary Gardens and "
        "the photo shows a green door, mine is white. I have knocked on the neighbours' doors with no luck. "
        "Please trace the parcel or resend it.",
    ),
    (
        "Washing machine leaking under warranty",
        "Dev Raghunathan",
        "The Aquaflo WM-8 we bought eleven months ago leaves a puddle on the floor at the end of every wash. The "
        "warranty runs for two years. Please arrange an engineer visit; I work from home on Mondays and "
        "Thursdays. The serial number is AQ8-0456612.",
    ),
    (
        "Never receive the sign-in code",
        "Paulina Wiśniewska",
        "When I try to log in to the app it says a code has been sent by text message, but nothing arrives, even "
        "after waiting ten minutes and pressing resend. My number is correct in my profile. I am locked out and "
        "cannot see my booking. Is there another way to verify?",
    ),
    (
        "Cancelled flight and voucher",
        "Hamish Drummond",
        "Flight OK-5514 to Reykjavik was cancelled six hours before departure. Instead of a refund you offered a "
        "voucher, which I do not want. Under the regulations I am entitled to my money back within seven days, "
        "plus compensation. Please refund £428 to my card.",
    ),
    (
        "Bookcase missing screws",
        "Sofia Lindgren",
        "I bought the Bramley oak bookcase and bag C with the cam locks and screws is missing from the box, so I "
        "cannot put it together. All the panels are fine. Could you post the fittings bag rather than sending a "
        "whole new bookcase?",
    ),
    (
        "Internet slow every evening",
        "Kwame Asante",
        "My fibre package promises 150 Mbps. In the daytime I get about that, but every evening from 7 to 11 the "
        "speed falls below 10 Mbps and video calls drop. I have tested with a cable straight into the router. "
        "This has gone on for three weeks.",
    ),
    (
        "Membership cancellation refused",
        "Lorna Etheridge",
        "I have moved to another city and asked at the front desk to cancel my gym membership. Staff said I must "
        "send a letter by post and pay two more months. My contract says one month's notice by email is enough. "
        "Please confirm the cancellation from the end of April.",
    ),
    (
        "Gift card balance gone",
        "Tariq Mahmood",
        "My daughter received a £50 gift card for her birthday. When she tried to use it online the balance was "
        "zero, although she had never used it. The card number ends in 3307. Could someone have used it before "
        "it was activated? Please investigate.",
    ),
    (
        "Meal kit arrived warm",
        "Chiara Bellucci",
        "Our box arrived at 8 p.m. instead of the morning, and the ice packs had melted. The chicken and salmon "
        "were warm and we threw them away. We had planned three dinners around this box. I would like a refund "
        "for the meat and fish.",
    ),
    (
        "New glasses make me dizzy",
        "Bernard Okello",
        "I collected my new varifocal glasses last week but I feel dizzy with them and the reading part is too "
        "low. I think the lenses were made to the wrong prescription or fitted at the wrong height. Please book me "
        "in to have them checked.",
    ),
]


def notice(title: str, sender: str, text: str) -> str:
    return f"Staff notice: {title}\nFrom: {sender}\n\n{text}\n"


NOTICES = [
    (
        "Hybrid working policy",
        "People team",
        "From 1 September, staff in office roles may work from home up to two days a week, agreed with their "
        "manager and recorded in the rota. Core hours are 10:00 to 15:00. Teams must all be in the office on "
        "Wednesdays. Equipment for home working can be requested through the portal, up to £300.",
    ),
    (
        "Bereavement leave",
        "People team",
        "Employees may take up to ten days of paid leave after the death of a close family member, and up to "
        "three days for other relatives or friends. Tell your manager as soon as you can; no documents are needed. "
        "The employee assistance line offers free confidential counselling.",
    ),
    (
        "Expense claims",
        "Finance",
        "Submit expense claims within 30 days of spending, with an itemised receipt for every item over £10. "
        "Alcohol is not reimbursed. Mileage is paid at 45p per mile for the first 10,000 miles. Claims missing "
        "receipts will be returned unpaid. The next payroll cut-off is the 18th.",
    ),
    (
        "Fire drill on Thursday",
        "Facilities",
        "There will be an unannounced-time fire drill on Thursday morning. When the alarm sounds, leave by the "
        "nearest exit, do not use the lifts, and gather at assembly point D in the north car park. Fire wardens "
        "wear yellow vests and will take the roll call. Visitors must be escorted.",
    ),
    (
        "Kitchen fridge clear-out",
        "Facilities",
        "The shared fridges on every floor will be emptied each Friday at 4 p.m. Anything without a name and date "
        "will be thrown away, including containers. Please do not leave open milk cartons. Last week a yoghurt "
        "from March was found.",
    ),
    (
        "New door access badges",
        "Security",
        "New photo badges replace the old key fobs from 3 June. Collect yours at reception with a photo ID between "
        "8 and 10 a.m. Old fobs stop working on 10 June. Do not hold doors open for people you do not know, and "
        "report a lost badge at once so it can be blocked.",
    ),
    (
        "Business travel booking",
        "Finance",
        "All flights, trains and hotels must be booked through the travel agency Wayfarer Corporate so that we know "
        "where staff are in an emergency. Economy class for flights under six hours. Hotels up to £140 a night, "
        "£190 in London. Book at least two weeks ahead.",
    ),
    (
        "Carrying over annual leave",
        "People team",
        "You may carry up to five unused days of annual leave into the next holiday year; they must be used by 31 "
        "March or they are lost. Managers can approve more only in exceptional cases such as long illness. Check "
        "your balance in the HR system before booking.",
    ),
    (
        "Car sharing and parking",
        "Facilities",
        "Twelve parking spaces nearest the entrance are now reserved for cars with two or more staff on board. "
        "Register your car-share group on the intranet to get a permit. The remaining spaces are first come, first "
        "served. Electric charging bays are limited to four hours.",
    ),
    (
        "Mental health first aiders",
        "Wellbeing group",
        "Eight colleagues have completed mental health first aid training and wear a green lanyard. If you are "
        "struggling, or worried about a colleague, you can talk to any of them in confidence. They are not "
        "therapists but can listen and point you to support.",
    ),
    (
        "Dress code",
        "People team",
        "Smart casual is fine on normal days. On days with client visits, please dress in business attire. On "
        "Fridays jeans and trainers are welcome. Safety boots and hi-vis jackets are always required on the "
        "warehouse floor.",
    ),
    (
        "Speaking up about wrongdoing",
        "Compliance",
        "If you suspect fraud, bribery, safety breaches or other wrongdoing, you can report it to the independent "
        "hotline Safecall anonymously, by phone or online, 24 hours a day. The company will not tolerate any "
        "retaliation against someone who raises a concern in good faith.",
    ),
    (
        "Desk booking",
        "Facilities",
        "Desks on floors 2 and 3 are now shared and must be booked in the Deskly app, up to two weeks ahead. "
        "Clear your desk at the end of the day; personal items go in your locker. Unused bookings are released at "
        "10:30 so others can sit there.",
    ),
]


def listing(title: str, price: str, text: str, ref: str) -> str:
    return f"{title}\n{price}\n\n{text}\n\nAgent reference {ref}\n"


LISTINGS = [
    (
        "Two-bedroom flat above a bakery, Wexmoor Road",
        "£1,150 per month",
        "Bright first-floor flat above a family bakery, with the smell of fresh bread every morning. Two double "
        "bedrooms, galley kitchen, sash windows overlooking the market square. Five minutes' walk to the station. "
        "Unfurnished; no smokers.",
        "WX-1182",
    ),
    (
        "Converted Methodist chapel, Little Saxby",
        "£595,000",
        "A Victorian chapel turned into a striking home, keeping the arched windows and the original organ loft "
        "as a mezzanine study. Open-plan living space with a 9-metre ceiling, three bedrooms, underfloor heating "
        "throughout. Small walled graveyard garden.",
        "LS-3307",
    ),
    (
        "Lighthouse keeper's cottage, Carn Dhu",
        "£410,000",
        "A whitewashed single-storey cottage beside a working automated lighthouse on the cliffs, reached by a "
        "private track. Two bedrooms, wood-burning stove, views out to sea on three sides. Exposed to weather; "
        "grazing rights on the headland.",
        "CD-0091",
    ),
    (
        "Narrowboat Kingfisher Dream, 57 ft",
        "£68,500",
        "A traditional steel narrowboat with a residential mooring on the Kennet and Avon canal. Diesel stove, "
        "double berth, shower room, solar panels on the roof. Hull blacked and surveyed last year. Mooring fees "
        "about £4,000 a year.",
        "KA-5701",
    ),
    (
        "Farmhouse with 12 acres, Pendle Moss",
        "£1,250,000",
        "Stone farmhouse of five bedrooms with a stone barn that has planning consent for conversion, stables, "
        "and twelve acres of pasture with a stream. Aga kitchen, boot room, orchard. Septic tank drainage and "
        "borehole water supply.",
        "PM-2240",
    ),
    (
        "Studio near the university, Cathays",
        "£720 per month",
        "A compact studio for a student or young professional, ten minutes on foot from the main campus. Fold-down "
        "bed, kitchenette, shower room, all bills and fast broadband included. Laundry in the basement. "
        "Available from September.",
        "CT-0417",
    ),
    (
        "Penthouse with roof terrace, Quayside",
        "£875,000",
        "Top-floor apartment with floor-to-ceiling glass and a 70 square metre wraparound terrace looking over "
        "the river and the bridges. Three bedrooms, two en suite, concierge, two secure parking spaces, "
        "residents' gym.",
        "QS-9001",
    ),
    (
        "Terraced house needing renovation, Mill Row",
        "£139,000",
        "A two-up two-down terrace for a buyer ready to take on a project: rising damp on the ground floor, "
        "dated kitchen, no central heating, rewiring needed. Good-sized yard at the back. Cash buyers only, as "
        "lenders may not lend on it.",
        "MR-0606",
    ),
    (
        "Accessible bungalow, Hazelbank Close",
        "£325,000",
        "A detached bungalow adapted for wheelchair users: level access with a ramp to the front door, wide doors, "
        "a wet room with a ceiling hoist, and a kitchen with lowered worktops. Two bedrooms, garden with raised "
        "beds, garage.",
        "HB-7712",
    ),
    (
        "Former watermill, River Leadon",
        "£780,000",
        "A grade II listed mill house of four bedrooms on three floors, with the iron waterwheel still in place "
        "and the mill race running under a glass panel in the kitchen floor. Two acres of riverside meadow; "
        "fishing rights.",
        "RL-3120",
    ),
    (
        "Woodland cabin on stilts, Coed Glas",
        "£215,000",
        "A timber cabin raised among oak trees, reached by a wooden walkway, with a wraparound deck and a hot tub. "
        "One bedroom in the loft, composting toilet, solar power, off-grid. Holiday use only; currently let "
        "through a glamping website.",
        "CG-4401",
    ),
    (
        "Semi-detached eco home, Fernhill",
        "£460,000",
        "A 1930s semi upgraded to an energy rating of A: external wall insulation, triple glazing, an air-source "
        "heat pump, 16 solar panels with a home battery. Electricity bills near zero in summer. Three bedrooms, "
        "long south-facing garden.",
        "FH-8834",
    ),
    (
        "Warehouse loft apartment, Ancoats",
        "£389,000",
        "A loft in a converted cotton mill with exposed brick walls, cast-iron columns and original timber beams. "
        "Open living space with 4-metre ceilings and huge arched windows, two bedrooms, allocated parking, and a "
        "shared roof garden.",
        "AN-2259",
    ),
]

KINDS: dict[str, tuple[Callable[..., str], Sequence[tuple[str, ...]]]] = {
    "ticket": (ticket, TICKETS),
    "product": (product, PRODUCTS),
    "recipe": (recipe, RECIPES),
    "travel": (travel, TRAVEL),
    "lab": (lab, LABS),
    "minutes": (minutes, MINUTES),
    "invoice": (invoice, INVOICES),
    "museum": (label, LABELS),
    "birds": (sighting, BIRDS),
    "release": (release, RELEASES),
    "clause": (clause, CLAUSES),
    "shiplog": (log, SHIP_LOGS),
    "garden": (garden, GARDEN),
    "letter": (letter, LETTERS),
    "notice": (notice, NOTICES),
    "listing": (listing, LISTINGS),
}


def main() -> None:
    TARGET.mkdir(exist_ok=True)
    for old in TARGET.glob("*.txt"):
        old.unlink()
    wrong: list[str] = []
    written = 0
    for kind, (render, entries) in KINDS.items():
        for number, entry in enumerate(entries, start=1):
            name = f"{kind}-{number:02d}.txt"
            text = render(*entry)
            words = len(text.split())
            if not MIN_WORDS <= words <= MAX_WORDS:
                wrong.append(f"{name}: {words} words")
            (TARGET / name).write_text(text, encoding="utf-8")
            written += 1
    if wrong:
        sys.exit("documents outside 40-150 words:\n" + "\n".join(wrong))
    print(f"{written} documents in {TARGET}")


if __name__ == "__main__":
    main()
