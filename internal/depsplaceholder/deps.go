package depsplaceholder
import (
_ "github.com/gofiber/fiber/v2"
_ "go.mongodb.org/mongo-driver/v2/mongo"
_ "github.com/redis/go-redis/v9"
_ "github.com/silenceper/wechat/v2/util"
_ "github.com/silenceper/wechat/v2/work"
_ "github.com/silenceper/wechat/v2/officialaccount"
_ "github.com/sashabaranov/go-openai"
_ "modernc.org/sqlite"
_ "github.com/FerretDB/FerretDB/ferretdb"
_ "github.com/spf13/cobra"
_ "gopkg.in/yaml.v3"
_ "github.com/prometheus/client_golang/prometheus"
_ "github.com/chromedp/chromedp"
)

