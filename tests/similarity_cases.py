"""Proposals with known groups, written from the seeds' themes (Kazanlak's integrated
development plan, Stara Zagora's entrepreneurship and digitalisation strategy, Kranj's
"Vprašaj, predlagaj"). Each inner list is one group: the same proposal in other words
and other inflections. A list of one is a proposal alike to none of the others; many
of those are near-misses on purpose: the same place or topic as a group, but another
request (more parking / fewer cars, a cycle lane / bicycle parking), which must NOT be
grouped with it.

The README's "Grouped near-duplicates" section reports the precision and recall on these.
"""

from __future__ import annotations

BG: list[list[str]] = [
    [
        "Предлагам изграждане на велоалея по бул. „Розова долина“ до индустриалната зона.",
        "Да се изгради велоалея по булевард „Розова долина“, за да се стига с колело "
        "до индустриалната зона.",
        "Нужни са велоалеи по булевард Розова долина към индустриалната зона, сега е опасно.",
    ],
    [
        "Паркът „Розариум“ има нужда от ново осветление и пейки.",
        "Моля да се смени осветлението в парк Розариум и да се поставят нови пейки.",
        "Предлагам нови пейки и осветление в парка Розариум.",
    ],
    [
        "Фестивалът на розата да се популяризира повече в чужбина, за да идват повече туристи.",
        "Повече реклама на Фестивала на розата в чужбина, за да привлечем туристи.",
        "Популяризиране на Празника на розата и фестивала в чужбина сред туристите.",
    ],
    [
        "Да се ремонтира водопроводът в квартал Изток, постоянно има аварии и спиране на водата.",
        "Честите аварии на водопровода в кв. Изток трябва да спрат – нужен е ремонт "
        "на водопровода.",
        "Ремонт на остарелия водопровод в квартал Изток, аварии всяка седмица.",
    ],
    [
        "Още една детска градина в квартал Изток, децата не се приемат заради липса на места.",
        "Липсват места в детските градини в кв. Изток – нужна е нова детска градина.",
    ],
    [
        "Долината на тракийските царе да има общ туристически маршрут с указателни табели.",
        "Предлагам туристически маршрут в Долината на тракийските царе с табели към гробниците.",
        "Указателни табели и маршрут за туристите из Долината на тракийските царе.",
    ],
    [
        "Общината да създаде бизнес инкубатор за стартиращи фирми в областта на технологиите.",
        "Бизнес инкубатор за стартиращи технологични фирми в Стара Загора.",
        "Да се открие бизнес инкубатор, който да подкрепя стартиращите фирми.",
    ],
    [
        "Всички административни услуги да могат да се заявяват електронно, без хартия и опашки.",
        "Електронни административни услуги онлайн, за да няма опашки и хартия в общината.",
        "Заявяване на административните услуги по електронен път, без опашки на гишето.",
    ],
    [
        "Безплатен интернет (Wi-Fi) в центъра на града и в парковете.",
        "Да има безплатен Wi-Fi интернет в центъра и в градските паркове.",
    ],
    [
        "Обучения по дигитални умения за възрастните хора в читалищата.",
        "Курсове за дигитални умения на възрастните в читалищата – много хора не могат "
        "да ползват електронни услуги.",
    ],
    [
        "Почистване на коритото на река Тунджа и укрепване на бреговете срещу наводнения.",
        "Коритото на Тунджа трябва да се почисти и бреговете да се укрепят, за да няма наводнения.",
    ],
    [
        "Повече автобусни линии до селата от общината и по-чести курсове.",
        "По-чести автобусни курсове до селата, сега има само два автобуса на ден.",
    ],
    # Near-misses: the same places and topics, another request.
    ["Велосипедни стоянки пред училищата и гарата, за да не се крадат колелата."],
    ["Ремонт на тротоарите по булевард „Розова долина“, плочките са счупени."],
    ["Парк Розариум да се затваря нощем, защото има вандализъм."],
    ["Нов паркинг до гарата, колите се паркират по тротоарите."],
    ["По-малко коли в центъра: пешеходна зона в събота и неделя."],
    ["Данъчни облекчения за фирмите, които наемат млади хора от общината."],
    ["Музей на розата да работи и в неделя, туристите го намират затворен."],
    ["Нова сграда за основното училище в кв. Изток, старата е в лошо състояние."],
]

EN: list[list[str]] = [
    [
        "Please build a cycle lane along Rozova Dolina Boulevard to the industrial zone.",
        "A cycle lane on Rozova Dolina boulevard so that workers can cycle to the industrial zone.",
        "We need cycle lanes on the Rozova Dolina Boulevard towards the industrial zone; "
        "cycling there is dangerous.",
    ],
    [
        "New lighting and benches in the Rosarium park.",
        "The Rosarium park needs new benches and better lighting.",
        "Replace the lighting in Rosarium Park and add new benches.",
    ],
    [
        "Promote the Rose Festival abroad to bring more tourists to Kazanlak.",
        "More advertising of the Rose Festival abroad would attract tourists.",
        "The Rose Festival should be promoted to tourists abroad.",
    ],
    [
        "Repair the water mains in the Iztok district: there are burst pipes every week.",
        "The water mains in Iztok district keep bursting and need repair.",
        "Burst water pipes in Iztok every week - repair the water mains, please.",
    ],
    [
        "A new kindergarten in Iztok district: children are turned away for lack of places.",
        "There are not enough kindergarten places in the Iztok district; build a new kindergarten.",
    ],
    [
        "A signposted tourist route through the Valley of the Thracian Kings.",
        "Signposts and a tourist route linking the tombs in the Valley of the Thracian Kings.",
        "Create a tourist route with signposts around the Thracian Kings valley tombs.",
    ],
    [
        "The municipality should open a business incubator for tech startups.",
        "A business incubator for technology startups in Stara Zagora.",
        "Open a business incubator that supports startups.",
    ],
    [
        "All administrative services should be available online, with no paper and no queues.",
        "Online administrative services so that nobody queues at the town hall with paper forms.",
        "Apply for administrative services online instead of queues at the counter.",
    ],
    [
        "Free public Wi-Fi in the town centre and the parks.",
        "Free Wi-Fi internet in the centre of town and in the city parks.",
    ],
    [
        "Digital skills training for older people in the community centres.",
        "Courses in digital skills for older people at the community centres (chitalishta).",
    ],
    [
        "Clean the bed of the Tundzha river and reinforce its banks against floods.",
        "The Tundzha riverbed must be cleaned and the banks reinforced to prevent floods.",
    ],
    [
        "More bus lines to the villages and more frequent buses.",
        "More frequent buses to the villages: today there are only two buses a day.",
    ],
    # Near-misses.
    ["Bicycle parking racks at the schools and the station, so bikes are not stolen."],
    ["Repair the pavements along Rozova Dolina Boulevard; the tiles are broken."],
    ["Close Rosarium park at night because of vandalism."],
    ["A new car park next to the station: cars are parked on the pavements."],
    ["Fewer cars in the centre: a pedestrian zone at weekends."],
    ["Tax relief for companies that hire young people from the municipality."],
    ["Keep the Rose Museum open on Sundays; tourists find it closed."],
    ["A new building for the primary school in Iztok district; the old one is in poor repair."],
]

SL: list[list[str]] = [
    [
        "Predlagam kolesarsko stezo od Zlatega polja do centra Kranja.",
        "Kolesarska steza med Zlatim poljem in centrom Kranja bi bila zelo potrebna.",
        "Potrebujemo kolesarske steze od Zlatega polja do središča Kranja.",
    ],
    [
        "Več parkirnih mest za stanovalce starega mestnega jedra.",
        "Stanovalci starega mestnega jedra nimamo parkirnih mest – uredite jih več.",
    ],
    [
        "Brezplačen mestni avtobus tudi ob nedeljah.",
        "Mestni avtobus naj vozi brezplačno tudi ob nedeljah in praznikih.",
    ],
    [
        "Kranj naj ustanovi podjetniški inkubator za mlade podjetnike.",
        "Podjetniški inkubator za mlade podjetnike v Kranju.",
    ],
    ["Stojala za kolesa pred šolami in na avtobusni postaji."],
    ["Manj avtomobilov v starem mestnem jedru, več pešcev."],
    ["Obnova pločnikov na Koroški cesti."],
]


def numbered(groups: list[list[str]]) -> tuple[list[str], list[int]]:
    """The texts in order and each text's group (its index in `groups`)."""
    texts, labels = [], []
    for label, group in enumerate(groups):
        for text in group:
            texts.append(text)
            labels.append(label)
    return texts, labels
