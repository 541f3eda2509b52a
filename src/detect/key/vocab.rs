//! The words key-name rules know, with the roles each plays in them.
//!
//! One sorted table, so classifying a key costs one binary search per word and then integer
//! AND/compare on role masks. A word can play several roles (`no` is a stop word at the start
//! of `no_email` and the second word of `card_no`). Keep `VOCAB` sorted by bytes; a test
//! checks it.

/// A set of roles, one bit each.
pub(super) type Roles = u128;

pub(super) const STOP_LAST: Roles = 1 << 0;
pub(super) const STOP_FIRST: Roles = 1 << 1;
pub(super) const OPT: Roles = 1 << 2;
pub(super) const VERSION: Roles = 1 << 3;
pub(super) const EMAIL: Roles = 1 << 4;
pub(super) const E: Roles = 1 << 5;
pub(super) const MAIL: Roles = 1 << 6;
pub(super) const VOICE_SNAIL: Roles = 1 << 7;
pub(super) const SSN: Roles = 1 << 8;
pub(super) const SOCIAL: Roles = 1 << 9;
pub(super) const SECURITY_INS: Roles = 1 << 10;
pub(super) const CNIC: Roles = 1 << 11;
pub(super) const NIC: Roles = 1 << 12;
pub(super) const IBAN: Roles = 1 << 13;
pub(super) const PASSPORT: Roles = 1 << 14;
pub(super) const DRIVER: Roles = 1 << 15;
pub(super) const LICENSE: Roles = 1 << 16;
pub(super) const DRIVERLICENSE: Roles = 1 << 17;
pub(super) const NATIONAL_STATE: Roles = 1 << 18;
pub(super) const NATIONAL_SECOND: Roles = 1 << 19;
pub(super) const ID_FIRST: Roles = 1 << 20;
pub(super) const ID_SECOND: Roles = 1 << 21;
pub(super) const TAX: Roles = 1 << 22;
pub(super) const TAX_SECOND: Roles = 1 << 23;
pub(super) const NATIONALID: Roles = 1 << 24;
pub(super) const DATE_DAY: Roles = 1 << 25;
pub(super) const OF: Roles = 1 << 26;
pub(super) const BIRTH: Roles = 1 << 27;
pub(super) const BIRTH_BORN: Roles = 1 << 28;
pub(super) const DATE_DAY_ON: Roles = 1 << 29;
pub(super) const DATE: Roles = 1 << 30;
pub(super) const DOB: Roles = 1 << 31;
pub(super) const CARD_WORD: Roles = 1 << 32;
pub(super) const CARD_NUM: Roles = 1 << 33;
pub(super) const CARD_EXCL: Roles = 1 << 34;
pub(super) const CARDNUM: Roles = 1 << 35;
pub(super) const PHONE: Roles = 1 << 36;
pub(super) const CELL: Roles = 1 << 37;
pub(super) const CELL_SECOND: Roles = 1 << 38;
pub(super) const CONTACT: Roles = 1 << 39;
pub(super) const CONTACT_SECOND: Roles = 1 << 40;
pub(super) const PASSWORD: Roles = 1 << 41;
pub(super) const APIKEY: Roles = 1 << 42;
pub(super) const KEY_FIRST: Roles = 1 << 43;
pub(super) const KEY_SECOND: Roles = 1 << 44;
pub(super) const SECRET_FIRST: Roles = 1 << 45;
pub(super) const SECRET: Roles = 1 << 46;
pub(super) const IP: Roles = 1 << 47;
pub(super) const REMOTE: Roles = 1 << 48;
pub(super) const ADDR_ADDRESS: Roles = 1 << 49;
pub(super) const FORWARDED: Roles = 1 << 50;
pub(super) const FOR: Roles = 1 << 51;
pub(super) const USERAGENT: Roles = 1 << 52;
pub(super) const USER: Roles = 1 << 53;
pub(super) const AGENT: Roles = 1 << 54;
pub(super) const DEVICEID: Roles = 1 << 55;
pub(super) const DEVICE_FIRST: Roles = 1 << 56;
pub(super) const ID_IDENT: Roles = 1 << 57;
pub(super) const MAC: Roles = 1 << 58;
pub(super) const GEO: Roles = 1 << 59;
pub(super) const LATLNG: Roles = 1 << 60;
pub(super) const ZIP: Roles = 1 << 61;
pub(super) const POSTAL: Roles = 1 << 62;
pub(super) const CODE: Roles = 1 << 63;
pub(super) const STREET: Roles = 1 << 64;
pub(super) const ADDRESS: Roles = 1 << 65;
pub(super) const NOT_POSTAL: Roles = 1 << 66;
pub(super) const HOUSE: Roles = 1 << 67;
pub(super) const NUMBER_NO: Roles = 1 << 68;
pub(super) const CITY: Roles = 1 << 69;
pub(super) const NAMEWORD: Roles = 1 << 70;
pub(super) const NAME: Roles = 1 << 71;
pub(super) const PERSON_NAME: Roles = 1 << 72;
pub(super) const ON: Roles = 1 << 73;
pub(super) const GENDER: Roles = 1 << 74;
pub(super) const AGE: Roles = 1 << 75;

/// Every word any rule mentions, sorted by bytes, with the roles it plays.
pub(super) const VOCAB: &[(&str, Roles)] = &[
    ("aadhaar", NATIONALID),
    ("aadhar", NATIONALID),
    ("aaid", DEVICEID),
    ("access", KEY_FIRST),
    ("accesskey", APIKEY),
    ("account", PERSON_NAME),
    ("ad", DEVICE_FIRST),
    ("addr", ADDR_ADDRESS | ADDRESS),
    ("address", ADDR_ADDRESS | ADDRESS),
    ("address1", STREET),
    ("address2", STREET),
    ("addresses", ADDRESS),
    ("addressline", STREET),
    ("adid", DEVICEID),
    ("advertising", DEVICE_FIRST),
    ("advertisingid", DEVICEID),
    ("age", AGE),
    ("agent", AGENT),
    ("allow", STOP_FIRST),
    ("android", DEVICE_FIRST),
    ("api", KEY_FIRST),
    ("apikey", APIKEY),
    ("apisecret", APIKEY),
    ("app", SECRET_FIRST),
    ("at", STOP_LAST),
    ("base", NOT_POSTAL),
    ("billing", PERSON_NAME),
    ("bind", NOT_POSTAL),
    ("birth", BIRTH | BIRTH_BORN),
    ("birthdate", DOB),
    ("birthday", DOB),
    ("birthdt", DOB),
    ("bitcoin", NOT_POSTAL),
    ("born", BIRTH_BORN),
    ("bounced", STOP_LAST),
    ("brand", STOP_LAST),
    ("btc", NOT_POSTAL),
    ("bucket", STOP_LAST),
    ("build", VERSION),
    ("business", CARD_EXCL),
    ("buyer", PERSON_NAME),
    ("card", ID_SECOND | CARD_WORD | CARD_NUM),
    ("cardholder", PERSON_NAME),
    ("cardno", CARDNUM),
    ("cardnumber", CARDNUM),
    ("category", STOP_LAST),
    ("cc", CARD_WORD),
    ("ccnum", CARDNUM),
    ("ccnumber", CARDNUM),
    ("cell", CELL),
    ("cellphone", PHONE),
    ("changed", STOP_LAST),
    ("city", CITY),
    ("client", SECRET_FIRST),
    ("clientsecret", APIKEY),
    ("cnic", CNIC),
    ("cnicnumber", CNIC),
    ("code", CODE),
    ("confirmed", STOP_LAST),
    ("consent", STOP_LAST),
    ("consumer", SECRET_FIRST),
    ("contact", CONTACT | PERSON_NAME),
    ("contract", NOT_POSTAL),
    ("coordinates", GEO),
    ("coords", GEO),
    ("count", STOP_LAST | STOP_FIRST),
    ("country", STOP_LAST),
    ("credit", CARD_WORD),
    ("creditcard", CARDNUM),
    ("customer", PERSON_NAME),
    ("date", DATE_DAY | DATE_DAY_ON | DATE),
    ("dateofbirth", DOB),
    ("day", DATE_DAY | DATE_DAY_ON),
    ("debit", CARD_WORD),
    ("debitcard", CARDNUM),
    ("device", DEVICE_FIRST),
    ("deviceid", DEVICEID),
    ("disabled", STOP_LAST),
    ("display", PERSON_NAME),
    ("displayname", NAMEWORD),
    ("dl", LICENSE),
    ("dob", DOB),
    ("domain", STOP_LAST),
    ("driver", DRIVER),
    ("driverlicense", DRIVERLICENSE),
    ("drivers", DRIVER),
    ("driverslicense", DRIVERLICENSE),
    ("driving", DRIVER),
    ("drivinglicence", DRIVERLICENSE),
    ("e", E | NOT_POSTAL),
    ("email", EMAIL | NOT_POSTAL),
    ("emailaddr", EMAIL),
    ("emailaddress", EMAIL),
    ("emails", EMAIL),
    ("emergency", PERSON_NAME),
    ("employee", PERSON_NAME),
    ("enable", STOP_FIRST),
    ("enabled", STOP_LAST),
    ("encrypted", STOP_LAST),
    ("error", STOP_LAST),
    ("errors", STOP_LAST),
    ("eth", NOT_POSTAL),
    ("exp", STOP_LAST),
    ("expiration", STOP_LAST),
    ("expiry", STOP_LAST),
    ("ext", STOP_LAST),
    ("extension", STOP_LAST),
    ("family", PERSON_NAME),
    ("familyname", NAMEWORD),
    ("fax", PHONE),
    ("field", STOP_LAST),
    ("first", PERSON_NAME),
    ("firstname", NAMEWORD),
    ("flag", STOP_LAST),
    ("for", FOR),
    ("forename", NAMEWORD),
    ("format", STOP_LAST),
    ("forwarded", FORWARDED),
    ("full", PERSON_NAME),
    ("fullname", NAMEWORD),
    ("gaid", DEVICEID),
    ("geburtsdatum", DOB),
    ("gender", GENDER),
    ("geo", GEO),
    ("geolocation", GEO),
    ("gift", CARD_EXCL),
    ("given", PERSON_NAME),
    ("givenname", NAMEWORD),
    ("gps", GEO),
    ("group", STOP_LAST),
    ("guest", PERSON_NAME),
    ("handy", PHONE),
    ("has", STOP_FIRST),
    ("hash", STOP_LAST),
    ("hashed", STOP_LAST),
    ("hide", STOP_FIRST),
    ("hint", STOP_LAST),
    ("holder", CARD_EXCL | PERSON_NAME),
    ("hometown", CITY),
    ("host", NOT_POSTAL),
    ("house", HOUSE),
    ("housenumber", STREET),
    ("iban", IBAN),
    ("ibans", IBAN),
    (
        "id",
        NATIONAL_SECOND | ID_FIRST | TAX_SECOND | CARD_EXCL | ID_IDENT,
    ),
    ("identification", ID_FIRST),
    ("identifier", NATIONAL_SECOND | TAX_SECOND | ID_IDENT),
    ("identity", NATIONAL_SECOND | ID_FIRST),
    ("idfa", DEVICEID),
    ("idfv", DEVICEID),
    ("imei", DEVICEID),
    ("insurance", SECURITY_INS | NATIONAL_SECOND),
    ("ip", IP | NOT_POSTAL),
    ("ipaddr", IP),
    ("ipaddress", IP),
    ("ips", IP),
    ("ipv", IP),
    ("is", STOP_FIRST),
    ("issuer", STOP_LAST),
    ("itin", NATIONALID),
    ("key", KEY_SECOND),
    ("kind", STOP_LAST),
    ("label", STOP_LAST),
    ("last", STOP_LAST | PERSON_NAME),
    ("lastname", NAMEWORD),
    ("lat", LATLNG),
    ("latitude", GEO),
    ("latlng", GEO),
    ("latlon", GEO),
    ("legal", PERSON_NAME),
    ("len", STOP_LAST | STOP_FIRST),
    ("length", STOP_LAST),
    ("library", CARD_EXCL),
    ("lic", LICENSE),
    ("licence", LICENSE),
    ("license", LICENSE),
    ("link", STOP_LAST),
    ("listen", NOT_POSTAL),
    ("lng", LATLNG),
    ("local", NOT_POSTAL),
    ("lon", LATLNG),
    ("longitude", GEO),
    ("loyalty", CARD_EXCL),
    ("mac", MAC | NOT_POSTAL),
    ("maiden", PERSON_NAME),
    ("maidenname", NAMEWORD),
    ("mail", MAIL | NOT_POSTAL),
    ("mails", MAIL),
    ("mask", STOP_LAST),
    ("masked", STOP_LAST),
    ("max", STOP_FIRST),
    ("md", STOP_LAST),
    ("member", PERSON_NAME),
    ("memory", NOT_POSTAL),
    ("middle", PERSON_NAME),
    ("middlename", NAMEWORD),
    ("min", STOP_FIRST),
    ("mobile", PHONE),
    ("mobilenumber", PHONE),
    ("month", STOP_LAST),
    ("msisdn", PHONE),
    ("nadra", CNIC),
    ("name", CARD_EXCL | NAME),
    ("national", NATIONAL_STATE),
    ("nationalid", NATIONALID),
    ("net", NOT_POSTAL),
    ("network", STOP_LAST | NOT_POSTAL),
    ("nic", NIC),
    ("nick", PERSON_NAME),
    ("nickname", NAMEWORD),
    ("nino", NATIONALID),
    (
        "no",
        STOP_FIRST | ID_SECOND | TAX_SECOND | CARD_NUM | CELL_SECOND | CONTACT_SECOND | NUMBER_NO,
    ),
    ("node", NOT_POSTAL),
    ("nr", CARD_NUM),
    ("num", STOP_FIRST | CARD_NUM),
    (
        "number",
        STOP_FIRST
            | NATIONAL_SECOND
            | ID_SECOND
            | TAX_SECOND
            | CARD_NUM
            | CELL_SECOND
            | CONTACT_SECOND
            | NUMBER_NO,
    ),
    ("of", OF),
    ("on", STOP_LAST | DATE_DAY_ON | ON),
    ("opt", STOP_LAST | OPT),
    ("opted", STOP_LAST),
    ("optin", STOP_LAST | OPT),
    ("optout", OPT),
    ("owner", PERSON_NAME),
    ("pan", CARD_NUM),
    ("parent", PERSON_NAME),
    ("passcode", PASSWORD),
    ("passenger", PERSON_NAME),
    ("passphrase", PASSWORD),
    ("passport", PASSPORT),
    ("passportno", PASSPORT),
    ("passportnumber", PASSPORT),
    ("passwd", PASSWORD),
    ("password", PASSWORD),
    ("patient", PERSON_NAME),
    ("peer", NOT_POSTAL),
    ("person", PERSON_NAME),
    ("personnummer", NATIONALID),
    ("phone", PHONE | CELL_SECOND),
    ("phoneno", PHONE),
    ("phonenumber", PHONE),
    ("phones", PHONE),
    ("plz", ZIP),
    ("policy", STOP_LAST),
    ("post", POSTAL),
    ("postal", POSTAL),
    ("postalcode", ZIP),
    ("postcode", ZIP),
    ("preference", STOP_LAST),
    ("preferences", STOP_LAST),
    ("prefix", STOP_LAST),
    ("private", KEY_FIRST | NOT_POSTAL),
    ("provider", STOP_LAST),
    ("proxy", NOT_POSTAL),
    ("public", NOT_POSTAL),
    ("pwd", PASSWORD),
    ("pword", PASSWORD),
    ("range", STOP_LAST),
    ("real", PERSON_NAME),
    ("recipient", PERSON_NAME),
    ("release", VERSION),
    ("remote", REMOTE | NOT_POSTAL),
    ("report", CARD_EXCL),
    ("require", STOP_FIRST),
    ("required", STOP_LAST),
    ("reset", STOP_LAST),
    ("rev", VERSION),
    ("revision", VERSION),
    ("rewards", CARD_EXCL),
    ("secret", KEY_FIRST | KEY_SECOND | SECRET),
    ("secretkey", APIKEY),
    ("security", SECURITY_INS),
    ("segment", STOP_LAST),
    ("semver", VERSION),
    ("send", STOP_FIRST),
    ("sender", PERSON_NAME),
    ("sent", STOP_LAST),
    ("server", NOT_POSTAL),
    ("sex", GENDER),
    ("sha", STOP_LAST),
    ("shipping", PERSON_NAME),
    ("show", STOP_FIRST),
    ("signing", KEY_FIRST),
    ("sim", CARD_EXCL),
    ("snail", VOICE_SNAIL),
    ("social", SOCIAL),
    ("socialsecurity", SSN),
    ("socket", NOT_POSTAL),
    ("spouse", PERSON_NAME),
    ("ssn", SSN),
    ("ssns", SSN),
    ("state", NATIONAL_STATE),
    ("status", STOP_LAST),
    ("steuerid", NATIONALID),
    ("street", STREET),
    ("streetaddress", STREET),
    ("strength", STOP_LAST),
    ("student", PERSON_NAME),
    ("subscribed", STOP_LAST),
    ("surname", NAMEWORD),
    ("tax", TAX),
    ("taxid", NATIONALID),
    ("tel", PHONE),
    ("telefon", PHONE),
    ("telefono", PHONE),
    ("telephone", PHONE),
    ("telephono", PHONE),
    ("template", STOP_LAST),
    ("token", STOP_LAST | NOT_POSTAL),
    ("tokenized", STOP_LAST),
    ("total", STOP_FIRST),
    ("town", CITY),
    ("type", STOP_LAST),
    ("types", STOP_LAST),
    ("udid", DEVICEID),
    ("updated", STOP_LAST),
    ("uri", STOP_LAST),
    ("url", STOP_LAST | NOT_POSTAL),
    ("user", USER | PERSON_NAME),
    ("useragent", USERAGENT),
    ("valid", STOP_LAST),
    ("validated", STOP_LAST),
    ("vendor", DEVICE_FIRST),
    ("ver", VERSION),
    ("verified", STOP_LAST),
    ("version", STOP_LAST | VERSION),
    ("visible", STOP_LAST),
    ("voice", VOICE_SNAIL),
    ("wallet", NOT_POSTAL),
    ("web", NOT_POSTAL),
    ("webhook", SECRET_FIRST),
    ("whatsapp", PHONE),
    ("year", STOP_LAST),
    ("zip", ZIP),
    ("zipcode", ZIP),
];
