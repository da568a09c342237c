package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/scrmhq/scrm/bot"
	"github.com/scrmhq/scrm/config"
	"github.com/scrmhq/scrm/nlp"
)

// core is what runs behind the HTTP edge: the processors every stored event
// visits, in order, and the loops that run beside the pipeline (job runners,
// the reminder scheduler, the marker sweep, the chat archive).
type core struct {
	owner      string // this instance's name in leases
	processors []bot.Processor
	background []func(context.Context)
	scheduler  *bot.Scheduler // nil without the WeCom API
}

// register adds a processor to the pipeline, after those added before it.
func (c *core) register(p bot.Processor) { c.processors = append(c.processors, p) }

// beside adds a loop that runs beside the pipeline until shutdown.
func (c *core) beside(run func(context.Context)) { c.background = append(c.background, run) }

// buildCore wires the processors in the order each stored event visits them.
// Every processor looks at every event and ignores the kinds it does not
// handle (wecom.Kind*), so the order is the whole contract:
//
//  1. welcome     add_external_contact with a WelcomeCode: the welcome the edge's fast
//     lane did not send (a crash, a full lane) goes before anything that can wait.
//  2. customers   every event: identities, follows and the message on the timeline;
//     later processors find the customer this one made.
//  3. channels    adds, deletions and joins with a channel's State: attribution, its tags.
//  4. optout      customer text asking to stop messages ("别再发了"): 不打扰, with the words.
//  5. oa-welcome  subscribe/SCAN through an Official Account QR channel: its welcome.
//  6. tags        change_external_tag.*, add/edit_external_contact: the tag catalogue, write-back jobs.
//  7. staff       change_contact: roles and teams from the address book.
//  8. groups      change_external_chat.*: customer groups and their members.
//  9. handover    del/add_external_contact, transfer_fail: wakes a handover job.
//  10. cadence    del_follow_user, del_external_contact, messages: churn alerts, wake-ups.
//  11. journeys   add_external_contact, deletions, customer messages: runs entered and ended.
//  12. commands   text from staff to the app: 查 / 记 / 提醒 / 转交 / 渠道 / 后台 / … and questions.
//  13. kf         kf_msg_or_event: pulls 微信客服 messages into the log.
//  14. answers    customer messages: FAQ and business-hours answers, recorded first …
//  15. inbox      … so the owner's forward can say what was already answered; 接 claims.
//  16. cards      template_card_event: 完成 / 推迟 / 查看 buttons on reminder cards.
//  17. analysis   customer messages: schedules the quiet-period analysis job.
//
// Step 1 needs a welcome lane, step 5 the Official Account's API, steps 6–9
// and 12–16 the WeCom API; without them they are left out. Beside the
// pipeline run the loops: job runners (tags, staff, groups, handovers,
// analyses, campaigns), the journeys' due runs, the reminder scheduler, the
// marker and session sweeps and the chat archive.
func buildCore(ctx context.Context, a *app, ext extensions, now func() time.Time, log *slog.Logger) (*core, error) {
	// The processors of one event share the reads of its customer (see
	// bot.ShareEventCustomers); outside the pipeline the store is as is.
	shared := *a
	shared.store = bot.ShareEventCustomers(a.store)
	a = &shared
	cfg := a.cfg
	c := &core{owner: newOwnerID()}
	runner := bot.RunnerOptions{Owner: c.owner, Now: now, Logger: log}
	llm := a.llm
	var profiles bot.Profiles
	if a.api != nil {
		profiles = wecomProfiles{c: a.api, wecom: cfg.WeComAPIEnabled(), official: cfg.OAAppID != "" && cfg.OAAppSecret != ""}
	}
	// Roles come from the staff directory the API uses too, so the bot and
	// the API see one set of roles; members it lacks fall back to ext's.
	fallback := ext.directory
	if fallback == nil {
		fallback = bot.StaticDirectory{}
	}
	dir := bot.StaffDirectory{Staff: a.store, Fallback: fallback}
	wecomAPI := cfg.WeComAPIEnabled()

	// 0. welcome    add_external_contact: the welcome of an add the edge's
	//    fast lane did not send (a crash, a full lane) goes first.
	if a.welcome != nil {
		c.register(bot.WelcomeFirst{W: a.welcome})
		c.beside(a.welcome.Run)
	}

	customers := bot.NewCustomers(a.store, profiles)
	if profiles != nil {
		// An outage of WeChat or WeCom must not hold timelines up: the
		// callback's identity goes on the timeline at once and a job fills
		// in the profile when the platform answers again.
		customers.DeferProfiles(a.store, bot.ProfileOptions{Now: now})
		c.beside(customers.ProfileRunner(a.store, bot.RunnerOptions{Owner: c.owner, Workers: 2, Now: now, Logger: log}).Run)
	}
	c.register(customers)
	// channels: attribution of adds, deletions and joins, the channel's tags.
	c.register(bot.NewChannelAttribution(a.store, log))
	// opt-out: a customer's "别再发了" sets 不打扰 before anything could message them.
	c.register(bot.NewOptOutDetector(a.store, bot.NewCore(a.store, now)))
	if a.api != nil && cfg.OAAppID != "" && cfg.OAAppSecret != "" {
		// oa-welcome: an OA QR channel's welcome to its followers, inside
		// the window the follow opens.
		c.register(bot.NewOAWelcome(a.store, customerSender{c: a.api, oa: true}, log))
	}

	if wecomAPI {
		tags := bot.NewTagSync(a.store, a.api, bot.TagSyncOptions{Logger: log})
		if err := tags.Start(ctx); err != nil {
			return nil, err
		}
		c.register(tags)
		for _, r := range tags.Runners(a.store, bot.RunnerOptions{Owner: c.owner, Workers: 5, Logger: log}) {
			c.beside(r.Run)
		}

		// A failed first staff sync leaves the stored roles in place, so it
		// only warns; the daily sync and POST /api/v1/staff/sync try again.
		staff := bot.NewStaffSync(a.store, a.api, bot.StaffSyncOptions{Now: now, Logger: log})
		if err := staff.Start(ctx); err != nil {
			log.Warn("staff sync not scheduled", "err", err)
		}
		c.register(staff)
		c.beside(staff.Runner(a.store, runner).Run)

		groups := bot.NewGroups(a.store, a.api, bot.GroupsOptions{Now: now, Logger: log})
		if err := groups.Start(ctx); err != nil {
			return nil, err
		}
		c.register(groups)
		c.beside(groups.Runner(a.store, runner).Run)

		handover := bot.NewHandover(a.store, a.api, bot.HandoverOptions{Now: now, Logger: log})
		c.register(handover)
		c.beside(handover.Runner(a.store, runner).Run)

		// Channel rota: every 5 minutes each contact way with schedules or
		// a daily cap is moved onto the members on shift and under the cap
		// (else its backups); one leased job, so one instance runs it.
		rotaCore := bot.NewCore(a.store, now)
		rotaCore.SetChannelAPI(a.api)
		rota := bot.NewChannelRota(rotaCore, bot.ChannelRotaOptions{Location: cfg.Location(), Logger: log})
		if err := rota.Start(ctx); err != nil {
			log.Warn("channel rota not scheduled", "err", err)
		}
		c.beside(rota.Runner(a.store, runner).Run)
	}

	c.register(bot.NewCadence(a.store, bot.CadenceOptions{Now: now}))

	// Journeys (SOP): the built-in ones are seeded (once, whichever
	// instance comes first); adds, deletions and replies enter and end runs
	// here, every instance advances the due runs (each run claimed by one),
	// and the scheduler's daily scan starts the time-triggered ones.
	journeys, err := bot.NewJourneys(a.store, bot.JourneyOptions{Location: cfg.Location(), DigestAt: cfg.DigestAt, Hours: cfg.Hours(),
		Now: now, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("SCRM_DIGEST_AT: %w", err)
	}
	if err := journeys.Start(ctx); err != nil {
		return nil, err
	}
	c.register(journeys)
	c.beside(journeys.Run)

	if wecomAPI {
		cmds := bot.NewCommands(a.store, dir, messenger{a.api, pipelineSendWait}, cfg.Location())
		cmds.SetDormantDays(cfg.DormantDays)
		cmds.SetPublicURL(cfg.PublicBase())
		cmds.SetHours(cfg.Hours())
		if llm != nil {
			cmds.SetAsker(bot.NewAsker(a.store, llm, bot.AskerOptions{Location: cfg.Location(), Logger: log}))
		}
		c.register(cmds)

		inbox, err := buildInbox(c, cfg, a, dir, llm, log)
		if err != nil {
			return nil, err
		}
		cmds.SetInbox(inbox)

		c.register(bot.NewCardActions(a.store, dir, cmds, messenger{a.api, pipelineSendWait}, cfg.Location(), now))
		scheduler, err := bot.NewScheduler(a.store, dir, messenger{c: a.api}, bot.SchedulerOptions{
			Owner: c.owner, Lease: cfg.ReminderLease, DigestAt: cfg.DigestAt, DormantDays: cfg.DormantDays,
			Location: cfg.Location(), Logger: log, Hours: cfg.Hours(),
			EscalateAfter: time.Duration(cfg.AlertEscalateHours) * time.Hour,
			Now:           now, Wake: ext.wakeReminders, Journeys: journeys,
		})
		if err != nil {
			return nil, fmt.Errorf("SCRM_DIGEST_AT: %w", err)
		}
		c.beside(scheduler.Run)
		c.scheduler = scheduler

		// Campaigns (群发): one job per campaign creates its tasks exactly
		// once (bot/campaigns_job.go); the lease outlasts a call's timeout.
		campaigns := bot.NewCore(a.store, now)
		campaigns.SetCampaigns(a.api, campaignOptions(cfg, a, log))
		c.beside(bot.NewJobRunner(a.store, bot.CampaignJobKind, campaigns.HandleCampaignJob,
			bot.RunnerOptions{Owner: c.owner, Workers: 2, Lease: cfg.CampaignLease, Now: now, Logger: log}).Run)
		// A sent campaign's results are pulled every 30 minutes for a week,
		// and senders who have not sent it nudged (at most 3 times): one
		// re-arming job per campaign, leased, so one instance runs each.
		c.beside(bot.NewJobRunner(a.store, bot.CampaignSyncJobKind, campaigns.HandleCampaignSyncJob,
			bot.RunnerOptions{Owner: c.owner, Workers: 1, Lease: cfg.CampaignLease, Now: now, Logger: log}).Run)
		// Then, for the week after its last delivery, who opted out after
		// it is counted every 6 hours, from the store alone.
		c.beside(bot.NewJobRunner(a.store, bot.CampaignOptOutJobKind, campaigns.HandleCampaignOptOutJob,
			bot.RunnerOptions{Owner: c.owner, Workers: 1, Now: now, Logger: log}).Run)
	}

	analysis := newAnalysis(cfg, a, llm, now, log)
	c.register(analysis)
	c.beside(bot.NewJobRunner(a.store, bot.AnalysisJobKind, analysis.HandleJob,
		bot.RunnerOptions{Owner: c.owner, Workers: 4, Now: now, Logger: log}).Run)

	// Markers and finished work's bookkeeping are deleted after their
	// retention (bot.MarkerRetention); without it they grow forever.
	c.beside(bot.NewMarkerSweep(a.store, bot.MarkerSweepOptions{Now: now, Logger: log}).Run)

	// Console sessions: lookups delete the ended ones they meet; this
	// sweep removes the rest (and expired login links) every hour.
	sessions := bot.NewCore(a.store, now)
	c.beside(func(ctx context.Context) { sweepSessions(ctx, sessions, cfg.SessionIdle, log) })

	switch {
	case cfg.ArchiveEnabled(): // chat archive (会话内容存档), see archive.go
		archive, err := newArchiveLoop(cfg, a, c.owner, now, log)
		if err != nil {
			return nil, err
		}
		c.beside(archive)
	case ext.archive != nil: // the demo's simulated archive, through the same worker
		w := bot.NewArchive(a.store, ext.archive, a.coord, bot.ArchiveOptions{Owner: c.owner, Poll: ext.archivePoll,
			Core: bot.NewCore(a.store, now), Location: cfg.Location(), Now: now, Logger: log})
		c.beside(w.Run)
	}
	return c, nil
}

// newAnalysis builds the conversation analysis from cfg: over the LLM when
// one is configured, with NoFallback so that an unavailable LLM fails the job
// and the runner retries it later (an outage delays analyses, loses none);
// over the embedded offline models otherwise.
func newAnalysis(cfg config.Config, a *app, llm *nlp.LLM, now func() time.Time, log *slog.Logger) *bot.Analysis {
	opts := nlp.AnalyzerOptions{Location: cfg.Location(), Now: now, Logger: log, NoFallback: llm != nil}
	return bot.NewAnalysis(a.store, nlp.NewAnalyzer(llm, opts), bot.AnalysisOptions{
		Quiet: cfg.AnalysisQuiet, Apply: cfg.AnalysisApply, Location: cfg.Location(), Now: now, Logger: log,
	})
}

// buildInbox registers the customer inbox — the 微信客服 pull, the automatic
// answers (FAQ knowledge base, business hours) and the inbox itself — in the
// order the pipeline must run them: an answer is recorded before the owner
// is told about it.
func buildInbox(c *core, cfg config.Config, a *app, dir bot.Directory, model *nlp.LLM, log *slog.Logger) (*bot.Inbox, error) {
	var faq bot.FAQSource
	var llm bot.FAQModel
	if a.faq != nil { // loaded at start (startApp), shared with the settings page
		faq = a.faq
		if model != nil {
			llm = model
		}
	}
	send := customerSender{c: a.api, oa: cfg.OAAppID != "" && cfg.OAAppSecret != ""}
	c.register(bot.NewKFSync(a.store, kfSource{a.api}, a.coord, bot.KFOptions{Owner: c.owner, Logger: log}))
	c.register(bot.NewAnswerer(a.store, faq, send, cfg.Hours(), llm, bot.AnswererOptions{OffHoursMessage: cfg.OffHoursMessage, Logger: log}))
	inbox := bot.NewInbox(a.store, messenger{a.api, pipelineSendWait}, send, dir, bot.InboxOptions{Location: cfg.Location(), Logger: log})
	c.register(inbox)
	return inbox, nil
}

// sweepSessions deletes ended console sessions and expired login links
// once an hour until ctx ends. Every instance sweeps; the deletes are
// idempotent.
func sweepSessions(ctx context.Context, core *bot.Core, idle time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := core.SweepSessions(ctx, idle); err != nil {
			log.Warn("session sweep failed", "err", err)
		} else if n > 0 {
			log.Info("ended sessions swept", "sessions", n)
		}
	}
}

// campaignOptions is the campaigns' policy from cfg.
func campaignOptions(cfg config.Config, a *app, log *slog.Logger) bot.CampaignOptions {
	return bot.CampaignOptions{MonthlyCap: cfg.CampaignMonthlyCap, Location: cfg.Location(), Messenger: messenger{c: a.api}, Logger: log,
		NudgeAfter: time.Duration(cfg.CampaignNudgeHours) * time.Hour}
}
