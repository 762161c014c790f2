package segment

import "slices"

// Template is a ready definition of a segment: the segment it creates,
// whose ID is the template's.
type Template struct {
	// Category groups related templates, such as "lifecycle".
	Category string
	Segment  Segment
}

// LifecycleGroup is the exclusive group of the lifecycle templates: a
// profile is in one stage at a time, the first it matches.
const LifecycleGroup = "lifecycle"

// RFMGroup is the exclusive group of the RFM cell templates: a customer is
// in one cell at a time, the first it matches.
const RFMGroup = "rfm"

// The event vocabulary of the templates follows the Segment e-commerce
// spec: "Product Viewed" (with category, product_id, device, on_sale),
// "Product Added", "Products Searched", "Order Completed" (with revenue,
// quantity, discount_used, product_id), "Product Reviewed" (with rating
// 1-5, product_id), "Email Clicked". The RFM cells and high-value repeat
// buyers read the scores and store statistics the metrics service supplies
// (rfm.*, store.*); the other templates that would need statistics use
// fixed thresholds, and their descriptions say which.
var templates = []Template{
	// Lifecycle: exclusive stages, first match wins.
	{"lifecycle", Segment{ID: "vip", DisplayName: "VIP", Group: LifecycleGroup, Priority: 10,
		Description: "5+ orders and $1,000+ revenue in the last 365 days. Fixed thresholds, so that the stage does not wait for a refresh of the scores; rfm-champions is its RFM counterpart.",
		Condition:   `count("Order Completed", "365d") >= 5 && sum("Order Completed", "revenue", "365d") >= 1000.0`}},
	{"lifecycle", Segment{ID: "loyal", DisplayName: "Loyal customers", Group: LifecycleGroup, Priority: 20,
		Description: "3+ orders in the last 180 days (and not VIP).",
		Condition:   `count("Order Completed", "180d") >= 3`}},
	{"lifecycle", Segment{ID: "at-risk", DisplayName: "At-risk customers", Group: LifecycleGroup, Priority: 30,
		Description: "2+ orders ever, the last more than 60 days ago: repeat customers going quiet.",
		Condition:   `count("Order Completed") >= 2 && days_since_last("Order Completed") > 60`}},
	{"lifecycle", Segment{ID: "first-time-buyers", DisplayName: "First-time buyers", Group: LifecycleGroup, Priority: 40,
		Description: "Exactly one order ever, placed in the last 30 days.",
		Condition:   `count("Order Completed") == 1 && days_since_first("Order Completed") < 30`}},
	{"lifecycle", Segment{ID: "one-time-buyers", DisplayName: "One-time buyers", Group: LifecycleGroup, Priority: 50,
		Description: "Exactly one order ever, placed 30 or more days ago, and none since.",
		Condition:   `count("Order Completed") == 1 && days_since_first("Order Completed") >= 30`}},
	{"lifecycle", Segment{ID: "new-visitors", DisplayName: "New visitors", Group: LifecycleGroup, Priority: 60,
		Description: "No order, first product view in the last 7 days.",
		Condition:   `count("Order Completed") == 0 && days_since_first("Product Viewed") < 7`}},

	// Browsing and intent.
	{"browsing", Segment{ID: "window-shoppers", DisplayName: "Window shoppers",
		Description: "5+ product views in the last 30 days, nothing added to a cart and no order in them.",
		Condition:   `count("Product Viewed", "30d") >= 5 && count("Product Added", "30d") == 0 && count("Order Completed", "30d") == 0`}},
	{"browsing", Segment{ID: "engaged-visitors", DisplayName: "Engaged visitors",
		Description: "10+ product views in the last 7 days.",
		Condition:   `count("Product Viewed", "7d") >= 10`}},
	{"browsing", Segment{ID: "cart-abandoners", DisplayName: "Cart abandoners",
		Description: "Viewed a product then added it to the cart within an hour, in the last 7 days, and placed no order in the 4 hours since the last add (and still none).",
		Condition:   `sequence(["Product Viewed", "Product Added"], "1h", "7d") && abandoned("Product Added", "Order Completed", "4h", "7d")`}},
	{"browsing", Segment{ID: "researchers", DisplayName: "Researchers",
		Description: "5+ searches and 10+ product views in the last 30 days without an order in them.",
		Condition:   `count("Products Searched", "30d") >= 5 && count("Product Viewed", "30d") >= 10 && count("Order Completed", "30d") == 0`}},
	{"browsing", Segment{ID: "browse-heavy-low-purchase", DisplayName: "Browse-heavy, low-purchase",
		Description: "30+ product views and at most one order in the last 90 days.",
		Condition:   `count("Product Viewed", "90d") >= 30 && count("Order Completed", "90d") <= 1`}},
	{"browsing", Segment{ID: "mobile-first", DisplayName: "Mobile-first",
		Description: "5+ product views on mobile in the last 30 days, at least 3 times as many as on desktop.",
		Condition: `count("Product Viewed", "30d", {"device": "mobile"}) >= 5 && ` +
			`count("Product Viewed", "30d", {"device": "mobile"}) >= 3 * count("Product Viewed", "30d", {"device": "desktop"})`}},
	{"browsing", Segment{ID: "interest-shoes", DisplayName: "Interest: shoes",
		Description: "3+ views of shoes in the last 30 days. An interest group: copy it and change the category.",
		Condition:   `count("Product Viewed", "30d", {"category": "shoes"}) >= 3`}},

	// Purchase behavior.
	{"purchase behavior", Segment{ID: "deal-seekers", DisplayName: "Deal seekers",
		Description: "2+ orders in the last 180 days, every one with a discount.",
		Condition:   `count("Order Completed", "180d", {"discount_used": true}) >= 2 && count("Order Completed", "180d", {"discount_used": false}) == 0`}},
	{"purchase behavior", Segment{ID: "full-price-buyers", DisplayName: "Full-price buyers",
		Description: "2+ orders in the last 180 days, none with a discount.",
		Condition:   `count("Order Completed", "180d", {"discount_used": false}) >= 2 && count("Order Completed", "180d", {"discount_used": true}) == 0`}},
	{"purchase behavior", Segment{ID: "bargain-hunters", DisplayName: "Bargain hunters",
		Description: "5+ views of products on sale in the last 30 days and a discounted order in the last 90.",
		Condition:   `count("Product Viewed", "30d", {"on_sale": true}) >= 5 && count("Order Completed", "90d", {"discount_used": true}) >= 1`}},
	{"purchase behavior", Segment{ID: "bulk-buyers", DisplayName: "Bulk buyers",
		Description: "An order of 10+ items in the last 365 days. Fixed threshold, standing in for the store's 95th percentile of quantity until the metrics service supplies it.",
		Condition:   `max("Order Completed", "quantity", "365d") >= 10.0`}},
	{"purchase behavior", Segment{ID: "high-value-repeat", DisplayName: "High-value repeat buyers",
		Description: "2+ orders in the last 180 days totalling at least 3 times the store's average order value (over the last 365 days, as of the latest refresh of the scores; no one before the first).",
		Condition:   `count("Order Completed", "180d") >= 2 && store.avg_order_value > 0.0 && sum("Order Completed", "revenue", "180d") >= 3.0 * store.avg_order_value`}},
	{"purchase behavior", Segment{ID: "seasonal-buyers", DisplayName: "Seasonal buyers",
		Description: "Ordered around this time last year (335 to 395 days ago) and not since: remind them before the season.",
		Condition:   `count("Order Completed", "335d..395d") >= 1 && count("Order Completed", "335d") == 0`}},

	// Reviews: by the average rating (1-5) of the last 365 days.
	{"reviews", Segment{ID: "advocates", DisplayName: "Advocates",
		Description: "Average review rating of 4 or more in the last 365 days.",
		Condition:   `avg("Product Reviewed", "rating", "365d") >= 4.0`}},
	{"reviews", Segment{ID: "neutral-reviewers", DisplayName: "Neutral reviewers",
		Description: "Average review rating from 3 up to 4 in the last 365 days.",
		Condition:   `avg("Product Reviewed", "rating", "365d") >= 3.0 && avg("Product Reviewed", "rating", "365d") < 4.0`}},
	{"reviews", Segment{ID: "dissatisfied", DisplayName: "Dissatisfied",
		Description: "Average review rating under 3 in the last 365 days.",
		Condition:   `avg("Product Reviewed", "rating", "365d") < 3.0`}},

	// RFM cells: exclusive, by the quintile scores (1-5, 5 best) of the
	// last 365 days among the store's customers, as of the latest refresh.
	{"rfm", Segment{ID: "rfm-champions", DisplayName: "RFM champions", Group: RFMGroup, Priority: 110,
		Description: "Recency, frequency and monetary scores all 4 or 5: the best customers, recent, frequent and big spenders.",
		Condition:   `rfm.recency >= 4 && rfm.frequency >= 4 && rfm.monetary >= 4`}},
	{"rfm", Segment{ID: "rfm-loyal", DisplayName: "RFM loyal", Group: RFMGroup, Priority: 120,
		Description: "Frequency score 4 or 5 and recency 3 or more (and not champions): regulars still buying.",
		Condition:   `rfm.recency >= 3 && rfm.frequency >= 4`}},
	{"rfm", Segment{ID: "rfm-new-customers", DisplayName: "RFM new customers", Group: RFMGroup, Priority: 130,
		Description: "Recency score 4 or 5 and frequency 1 or 2: recent first or second orders worth nurturing.",
		Condition:   `rfm.recency >= 4 && rfm.frequency >= 1 && rfm.frequency <= 2`}},
	{"rfm", Segment{ID: "rfm-at-risk", DisplayName: "RFM at risk", Group: RFMGroup, Priority: 140,
		Description: "Recency score 1 or 2 and frequency 3 or more: customers who bought often but not lately.",
		Condition:   `rfm.recency >= 1 && rfm.recency <= 2 && rfm.frequency >= 3`}},
	{"rfm", Segment{ID: "rfm-hibernating", DisplayName: "RFM hibernating", Group: RFMGroup, Priority: 150,
		Description: "Recency and frequency scores 1 or 2: few orders, long ago.",
		Condition:   `rfm.recency >= 1 && rfm.recency <= 2 && rfm.frequency <= 2`}},

	// Cross-cutting examples.
	{"cross-cutting", Segment{ID: "clicked-no-order", DisplayName: "Clicked an email, no order",
		Description: "Clicked an email in the last 72 hours and placed no order in them.",
		Condition:   `count("Email Clicked", "72h") > 0 && count("Order Completed", "72h") == 0`}},
	{"cross-cutting", Segment{ID: "high-ltv-not-subscribed", DisplayName: "High lifetime value, not subscribed",
		Description: "$1,000+ revenue ever and no email_subscribed trait set to true. Fixed threshold, standing in for the top CLV decile until the metrics service supplies it.",
		Condition:   `sum("Order Completed", "revenue") >= 1000.0 && !(has(traits.email_subscribed) && traits.email_subscribed == true)`}},
	{"cross-cutting", Segment{ID: "bought-and-reviewed", DisplayName: "Bought product p-7 and reviewed it",
		Description: "Ordered product p-7 and reviewed it, both in the last 365 days. Copy it and change the product_id.",
		Condition:   `count("Order Completed", "365d", {"product_id": "p-7"}) >= 1 && count("Product Reviewed", "365d", {"product_id": "p-7"}) >= 1`}},
	{"cross-cutting", Segment{ID: "loyal-londoners", DisplayName: "Loyal Londoners",
		Description: "Loyal or VIP customers whose city trait is London. Needs the loyal and vip templates.",
		Condition:   `(in_segment("loyal") || in_segment("vip")) && has(traits.city) && traits.city == "London"`}},
}

// Templates returns the built-in segment templates, by category, each after
// the templates it tests with in_segment: creating them in this order
// works.
func Templates() []Template {
	return slices.Clone(templates)
}
