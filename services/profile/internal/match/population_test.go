package match_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/barista-cdp/barista/services/profile/internal/match"
)

// population is a synthetic set of profiles with the person each belongs
// to: the truth matching is measured against.
type population struct {
	records []match.Record
	person  []int
}

// populationOptions shape a synthetic population.
type populationOptions struct {
	People    int
	Postcodes int
	Offices   int
	// CarrierIPs is the pool of mobile carrier NAT addresses all phones
	// share.
	CarrierIPs int
	Seed       uint64
}

var (
	firstNames = []string{"james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth",
		"david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen", "christopher", "nancy",
		"daniel", "lisa", "matthew", "betty", "anthony", "margaret", "mark", "sandra", "donald", "ashley", "steven", "kimberly",
		"paul", "emily", "andrew", "donna", "joshua", "michelle", "kenneth", "dorothy", "kevin", "carol", "brian", "amanda"}
	lastNames = []string{"smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
		"hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin", "lee", "perez",
		"thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king",
		"wright", "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson", "baker", "hall", "rivera", "campbell",
		"mitchell", "carter", "roberts", "kowalski", "okafor", "lindqvist", "haddad", "tanaka", "novak", "fischer", "moreau"}
	userAgents = []string{
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Safari/604.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile",
		"Mozilla/5.0 (Linux; Android 13; SM-S911B) Chrome/123.0 Mobile",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/124.0",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Chrome/124.0",
		"Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0",
	}
	mailDomains = []string{"gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me"}
)

type device struct {
	fingerprint, ua, ip string
	mobile              bool
}

// newPopulation generates people with one to three devices each, whose
// profiles the identity graph could not join: at most one holds the
// person's user id and personal email; others come from cookie resets
// (same device, new anonymous id), from other devices, and from forms
// filled in with a work email, sometimes with a typo in the name or an
// old postcode. People share office IPs, phones share a few carrier NAT
// IPs, households share an IP and a surname, some share a family
// computer, and popular phones share fingerprints. Names follow a skewed
// distribution, so common names recur within a postcode.
func newPopulation(o populationOptions) population {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	skewed := func(n int) int { // roughly Zipf: small indexes are common
		return int(float64(n) * rng.Float64() * rng.Float64())
	}
	var pop population
	add := func(person int, r match.Record) {
		pop.records = append(pop.records, r)
		pop.person = append(pop.person, person)
	}
	fp := 0
	newFingerprint := func(mobile bool) string {
		fp++
		if mobile && rng.Float64() < 0.05 {
			// Popular phone models on default settings look alike.
			return fmt.Sprintf("fp-popular-%d", rng.IntN(20))
		}
		return fmt.Sprintf("fp-%d", fp)
	}
	type household struct {
		ip, last, postcode string
		family             *device
	}
	var households []*household
	for person := range o.People {
		var h *household
		if len(households) > 0 && rng.Float64() < 0.3 {
			h = households[rng.IntN(len(households))]
		} else {
			h = &household{
				ip:       fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), rng.IntN(256)),
				last:     lastNames[skewed(len(lastNames))],
				postcode: fmt.Sprintf("PC%04d", rng.IntN(o.Postcodes)),
			}
			households = append(households, h)
		}
		first := firstNames[skewed(len(firstNames))]
		name := first + " " + h.last
		postcode := h.postcode
		local := strings.ReplaceAll(name, " ", ".")
		if rng.Float64() < 0.3 {
			local = fmt.Sprintf("%s%d", local, rng.IntN(100))
		}
		office := fmt.Sprintf("172.16.0.%d", rng.IntN(o.Offices))

		var devices []*device
		for d := range 1 + rng.IntN(3) {
			dev := &device{mobile: d == 0 || rng.Float64() < 0.3}
			dev.fingerprint = newFingerprint(dev.mobile)
			if dev.mobile {
				dev.ua = userAgents[rng.IntN(4)]
				dev.ip = fmt.Sprintf("100.64.0.%d", rng.IntN(o.CarrierIPs))
				if rng.Float64() < 0.5 {
					dev.ip = h.ip // on home wifi
				}
			} else {
				dev.ua = userAgents[4+rng.IntN(len(userAgents)-4)]
				dev.ip = h.ip
				if rng.Float64() < 0.4 {
					dev.ip = office
				}
			}
			devices = append(devices, dev)
		}
		if rng.Float64() < 0.15 {
			// A family computer shared with the household.
			if h.family == nil {
				h.family = &device{fingerprint: newFingerprint(false), ua: userAgents[4], ip: h.ip}
			}
			devices = append(devices, h.family)
		}
		on := func(dev *device, r match.Record) match.Record {
			r.Fingerprint, r.UserAgent, r.IP = dev.fingerprint, dev.ua, dev.ip
			if rng.Float64() < 0.25 {
				// Last seen elsewhere: travelling, another network.
				r.IP = fmt.Sprintf("192.0.2.%d", rng.IntN(250))
			}
			return r
		}
		n := 0
		id := func() string { n++; return fmt.Sprintf("p%d-%d", person, n) }
		if rng.Float64() < 0.7 {
			// The account: user id and personal email, on one device.
			add(person, on(devices[rng.IntN(len(devices))], match.Record{
				ID: id(), UserID: fmt.Sprintf("u%d", person), Emails: []string{local + "@" + mailDomains[rng.IntN(len(mailDomains))]},
				Name: match.NormalizeName(name), Postcode: postcode,
			}))
		}
		if rng.Float64() < 0.25 {
			// A form filled in with a work email.
			formName, formPostcode := name, postcode
			if rng.Float64() < 0.3 {
				formName = typo(rng, name)
			}
			if rng.Float64() < 0.2 {
				formPostcode = fmt.Sprintf("PC%04d", rng.IntN(o.Postcodes)) // moved since
			}
			workLocal := local
			if rng.Float64() < 0.5 {
				workLocal = string(first[0]) + h.last
			}
			add(person, on(devices[rng.IntN(len(devices))], match.Record{
				ID: id(), Emails: []string{workLocal + "@company" + fmt.Sprint(rng.IntN(50)) + ".example"},
				Name: match.NormalizeName(formName), Postcode: formPostcode,
			}))
		}
		for _, dev := range devices {
			// Anonymous visits, a new anonymous id after each cookie reset.
			for range rng.IntN(3) {
				add(person, on(dev, match.Record{ID: id()}))
			}
		}
	}
	return pop
}

// typo swaps two neighbouring letters of s, or drops one.
func typo(rng *rand.Rand, s string) string {
	r := []rune(s)
	i := 1 + rng.IntN(len(r)-2)
	if r[i] == ' ' || r[i+1] == ' ' {
		return string(append(r[:i:i], r[i+1:]...))
	}
	r[i], r[i+1] = r[i+1], r[i]
	return string(r)
}

// truePairs counts the pairs of records that belong to one person.
func (p population) truePairs() int {
	n := map[int]int{}
	for _, x := range p.person {
		n[x]++
	}
	total := 0
	for _, c := range n {
		total += c * (c - 1) / 2
	}
	return total
}

// quality is precision and recall over pairs of records.
type quality struct {
	predicted, correct, truth int
}

func (q quality) precision() float64 {
	if q.predicted == 0 {
		return 1
	}
	return float64(q.correct) / float64(q.predicted)
}

func (q quality) recall() float64 { return float64(q.correct) / float64(q.truth) }

func (q quality) String() string {
	return fmt.Sprintf("precision %.3f (%d/%d) recall %.3f (%d/%d)", q.precision(), q.correct, q.predicted, q.recall(), q.correct, q.truth)
}

// evaluate measures automatic merges as the graph would apply them (merges
// are transitive: every pair within a merged cluster counts) and, for
// automatic merges plus the review queue, the pairs a perfect reviewer
// could accept.
func (p population) evaluate(pairs []match.Pair) (auto, reviewed quality, queue int) {
	auto = p.closure(pairs, func(pr match.Pair) bool { return pr.Decision == match.Merge })
	reviewed = auto
	for _, pr := range pairs {
		if pr.Decision != match.Review {
			continue
		}
		queue++
		reviewed.predicted++
		if p.person[pr.A] == p.person[pr.B] {
			reviewed.correct++
		}
	}
	return auto, reviewed, queue
}

// ceiling is the recall a perfect classifier of the candidate pairs would
// reach: the limit blocking sets, since profiles that share no blocking key
// with any profile of their person are never compared.
func (p population) ceiling(pairs []match.Pair) quality {
	return p.closure(pairs, func(pr match.Pair) bool { return p.person[pr.A] == p.person[pr.B] })
}

// closure merges the pairs that take, as the graph would (transitively,
// refusing two user ids), and counts the pairs within the clusters.
func (p population) closure(pairs []match.Pair, take func(match.Pair) bool) (q quality) {
	parent := make([]int, len(p.records))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	userOf := map[int]string{}
	for i, r := range p.records {
		userOf[i] = r.UserID
	}
	for _, pr := range pairs {
		if !take(pr) {
			continue
		}
		a, b := find(pr.A), find(pr.B)
		if a == b || (userOf[a] != "" && userOf[b] != "" && userOf[a] != userOf[b]) {
			continue // the graph refuses a merge of two user ids
		}
		parent[b] = a
		if userOf[a] == "" {
			userOf[a] = userOf[b]
		}
	}
	clusters := map[int][]int{}
	for i := range p.records {
		clusters[find(i)] = append(clusters[find(i)], i)
	}
	q.truth = p.truePairs()
	for _, members := range clusters {
		for x := range members {
			for y := x + 1; y < len(members); y++ {
				q.predicted++
				if p.person[members[x]] == p.person[members[y]] {
					q.correct++
				}
			}
		}
	}
	return q
}
